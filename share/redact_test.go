package share

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormattingRedactsSecrets(t *testing.T) {
	t.Parallel()
	const pass = "users-password-xyz"
	codecCfg := CodecConfig{Secret: []byte(testSecret), PreviousSecrets: [][]byte{[]byte("previous-secret-value-0123456789ab")}}
	codec, err := NewCodec(codecCfg)
	require.NoError(t, err)
	cfg := Config{Codec: codec, Users: map[string]string{"u": pass}, Orthanc: &OrthancClient{URL: "http://o", Username: "o", Password: pass}}
	svc, err := NewService(cfg)
	require.NoError(t, err)
	const token = "eyJhbGciOiJIUzI1NiJ9.the-token-payload.sig"
	access := Access{Method: "get", Level: LevelStudy, OrthancID: "o", DicomUID: "1.2", Token: token}
	values := []any{codecCfg, &codecCfg, codec, cfg, &cfg, svc, cfg.Orthanc, access, &access}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range []string{testSecret, "previous-secret", pass, fmt.Sprint([]byte(testSecret)[:4])[1:8], "the-token-payload"} {
				assert.NotContains(t, out, secret, "%s of %T reveals a secret", verb, v)
			}
		}
	}
}

// TestAccessLogsWithoutToken: an Access handed to slog shows the access but
// not its token.
func TestAccessLogsWithoutToken(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("check", "access", Access{Method: "get", Level: LevelStudy, OrthancID: "o-id", Token: "Bearer secret-token-value"})
	out := buf.String()
	assert.NotContains(t, out, "secret-token-value")
	assert.Contains(t, out, "o-id")
}
