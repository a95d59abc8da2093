package uploader

import (
	"errors"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseManageResult: any 2xx body gives either a result with success
// true or an error matching ErrRefused, never a panic; the message is
// bounded and holds no credential-shaped text.
func FuzzParseManageResult(f *testing.F) {
	for _, s := range []string{
		`{"success":true,"upload_id":"5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e","status":"submitted","message":"Upload submitted."}`,
		`{"success":false,"message":"Locked by aubt_abcdefghij"}`, `{"success":"true"}`, `{}`, `[]`, `null`, ``,
		`{"success":true,"upload_id":7,"status":null}`,
	} {
		f.Add([]byte(s))
	}
	credential := regexp.MustCompile(`(aubt|aura_sk|aura_au)_[A-Za-z0-9_\-]{4,}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := parseManageResult(pathSubmit, data)
		if err != nil {
			require.True(t, errors.Is(err, ErrRefused), "error %v does not match ErrRefused", err)
			require.Empty(t, credential.FindString(err.Error()), "credential in %q", err.Error())
		} else {
			require.NotNil(t, res)
		}
		if res != nil {
			require.LessOrEqual(t, len(res.Message), 1024+len("…"))
			require.Empty(t, credential.FindString(res.Message))
		}
	})
}
