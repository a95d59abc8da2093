package tustest

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseUploadChecksum: the header parser never panics and accepts
// only the canonical form.
func FuzzParseUploadChecksum(f *testing.F) {
	for _, s := range []string{"sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", "sha1", "SHA1 AA==", "md5  AA==", "a AA==", " AA==", "x \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		algo, digest, err := parseUploadChecksum(v)
		if err != nil {
			return
		}
		require.NotEmptyf(t, digest, "accepted %q", v)
		require.NotEmptyf(t, algo, "accepted %q", v)
		require.Falsef(t, strings.ContainsAny(algo, " ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "accepted %q as %q", v, algo)
		require.Equal(t, v, algo+" "+base64.StdEncoding.EncodeToString(digest), "accepted a non-canonical value")
	})
}
