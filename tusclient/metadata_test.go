package tusclient_test

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/tusclient"
)

// TestMetadataEncodeAuraOrder checks the exact header the Aura uploader
// sends: keys in its order, standard Base64 with padding.
func TestMetadataEncodeAuraOrder(t *testing.T) {
	t.Parallel()
	md := tusclient.Metadata{
		{Key: "upload_id", Value: "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{Key: "bucket", Value: "lift-eu"},
		{Key: "mode", Value: "bulk"},
		{Key: "name", Value: "0f8fad5b-d9cb-469f-a165-70867728950e.zip"},
		{Key: "type", Value: "application/zip"},
		{Key: "filetype", Value: "application/zip"},
		{Key: "filename", Value: "0f8fad5b-d9cb-469f-a165-70867728950e.zip"},
	}
	got, err := md.Encode()
	require.NoError(t, err)
	want := "upload_id MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBl," +
		"bucket bGlmdC1ldQ==," +
		"mode YnVsaw==," +
		"name MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBlLnppcA==," +
		"type YXBwbGljYXRpb24vemlw," +
		"filetype YXBwbGljYXRpb24vemlw," +
		"filename MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBlLnppcA=="
	require.EqualValuesf(t, want, got, "Encode:\n got %s\nwant %s", got, want)
	back, err := tusclient.ParseMetadata(got)
	require.NoErrorf(t, err, "ParseMetadata(Encode) = %v, %v; want %v", back, err, md)
	require.Truef(t, reflect.DeepEqual(back, md), "ParseMetadata(Encode) = %v, %v; want %v", back, err, md)
}

func TestMetadataEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		md   tusclient.Metadata
		want string
	}{
		{"nil", nil, ""},
		{"spec example", tusclient.Metadata{{Key: "filename", Value: "world_domination_plan.pdf"}, {Key: "is_confidential"}},
			"filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential "},
		{"binary value", tusclient.Metadata{{Key: "k", Value: "\x00\xff\n,"}}, "k AP8KLA=="},
		{"padding 1", tusclient.Metadata{{Key: "a", Value: "ab"}}, "a YWI="},
		{"order kept", tusclient.Metadata{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}}, "z MQ==,a Mg=="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.md.Encode()
			require.NoErrorf(t, err, "Encode = %q, %v; want %q", got, err, tc.want)
			require.EqualValuesf(t, tc.want, got, "Encode = %q, %v; want %q", got, err, tc.want)
		})
	}
}

func TestMetadataInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		md   tusclient.Metadata
	}{
		{"empty key", tusclient.Metadata{{Key: "", Value: "x"}}},
		{"space", tusclient.Metadata{{Key: "a b"}}},
		{"comma", tusclient.Metadata{{Key: "a,b"}}},
		{"tab", tusclient.Metadata{{Key: "a\tb"}}},
		{"newline", tusclient.Metadata{{Key: "a\r\nX-Evil: 1"}}},
		{"non-ascii", tusclient.Metadata{{Key: "naïve"}}},
		{"DEL", tusclient.Metadata{{Key: "a\x7f"}}},
		{"duplicate", tusclient.Metadata{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.md.Encode()
			require.ErrorIs(t, err, tusclient.ErrInvalidMetadata)
		})
	}
}

func TestParseMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    tusclient.Metadata
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"one", "a YWI=", tusclient.Metadata{{Key: "a", Value: "ab"}}, false},
		{"key only", "k", tusclient.Metadata{{Key: "k"}}, false},
		{"key and space", "k ", tusclient.Metadata{{Key: "k"}}, false},
		{"ows and empty entries", " a YWI= ,, b\t", tusclient.Metadata{{Key: "a", Value: "ab"}, {Key: "b"}}, false},
		{"order", "z MQ==,a Mg==", tusclient.Metadata{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}}, false},
		{"unpadded", "a YWI", nil, true},
		{"url alphabet", "a -_8=", nil, true},
		{"two spaces", "a YWI= x", nil, true},
		{"newline in value", "a YW\nI=", nil, true},
		{"duplicate", "a,a", nil, true},
		{"bad key", "a\x01 YQ==", nil, true},
		{"non-ascii key", "é YQ==", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tusclient.ParseMetadata(tc.in)
			if tc.wantErr {
				require.ErrorIsf(t, err, tusclient.ErrInvalidMetadata, "ParseMetadata(%q) = %v, %v; want ErrInvalidMetadata", tc.in, got, err)
				return
			}
			require.NoErrorf(t, err, "ParseMetadata(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			require.Truef(t, reflect.DeepEqual(got, tc.want), "ParseMetadata(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		})
	}
}

// FuzzParseMetadata checks that parsing never panics, that whatever parses
// re-encodes to a header that parses to the same metadata, and that the
// encoding is canonical.
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{"", "a YWI=", "k", "k ", "a YWI=,b", " a YWI= ,, b\t", "a,a", "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		md, err := tusclient.ParseMetadata(in)
		if err != nil {
			require.ErrorIsf(t, err, tusclient.ErrInvalidMetadata, "error %v does not wrap ErrInvalidMetadata", err)
			return
		}
		enc, err := md.Encode()
		require.NoErrorf(t, err, "parsed %q to %v, which does not encode", in, md)
		md2, err := tusclient.ParseMetadata(enc)
		require.NoErrorf(t, err, "round trip of %q: %v -> %q -> %v, ", in, md, enc, md2)
		require.Falsef(t, !reflect.DeepEqual(md, md2) && len(md) > 0, "round trip of %q: %v -> %q -> %v, ", in, md, enc, md2)
		enc2, _ := md2.Encode()
		require.EqualValuesf(t, enc, enc2, "encoding not canonical: %q then %q", enc, enc2)
		for _, p := range md {
			require.Falsef(t, strings.ContainsAny(p.Key, " ,\r\n"), "key %q accepted", p.Key)
			_, err := base64.StdEncoding.DecodeString(base64.StdEncoding.EncodeToString([]byte(p.Value)))
			require.NoError(t, err)
		}
	})
}
