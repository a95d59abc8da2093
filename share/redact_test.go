package share

import (
	"fmt"
	"strings"
	"testing"
)

func TestFormattingRedactsSecrets(t *testing.T) {
	t.Parallel()
	const pass = "users-password-xyz"
	codecCfg := CodecConfig{Secret: []byte(testSecret), PreviousSecrets: [][]byte{[]byte("previous-secret-value-0123456789ab")}}
	codec, err := NewCodec(codecCfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Codec: codec, Users: map[string]string{"u": pass}, Orthanc: &OrthancClient{URL: "http://o", Username: "o", Password: pass}}
	svc, err := NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	values := []any{codecCfg, &codecCfg, codec, cfg, &cfg, svc, cfg.Orthanc}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range []string{testSecret, "previous-secret", pass, fmt.Sprint([]byte(testSecret)[:4])[1:8]} {
				if strings.Contains(out, secret) {
					t.Errorf("%s of %T reveals a secret: %s", verb, v, out)
				}
			}
		}
	}
}
