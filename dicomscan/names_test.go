package dicomscan

import (
	"archive/zip"
	"bytes"
	"context"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isPortable is the definition portableName must meet, written
// independently of it: a name every common file system and extractor
// takes as one plain file name.
func isPortable(name string) bool {
	if name == "" || name == "." || name == ".." || !utf8.ValidString(name) {
		return false
	}
	if strings.ContainsAny(name, `/\<>:"|?*`) || strings.ContainsFunc(name, unicode.IsControl) {
		return false
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return false
	}
	base := strings.ToUpper(strings.TrimRight(strings.SplitN(name, ".", 2)[0], " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return false
	}
	for _, dev := range []string{"COM", "LPT"} {
		for _, d := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³"} {
			if base == dev+d {
				return false
			}
		}
	}
	return true
}

func TestPortableName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		// Unchanged: what real UIDs and file names look like.
		{"1.2.840.113619.2.55.3.604688119.969.1268071029.320", "1.2.840.113619.2.55.3.604688119.969.1268071029.320"},
		{"IM0001", "IM0001"},
		{"image 1.dcm", "image 1.dcm"},
		{"Ünïcödé-名前.dcm", "Ünïcödé-名前.dcm"},
		{"CONSOLE.dcm", "CONSOLE.dcm"},
		{"COM10", "COM10"},
		{"LPT", "LPT"},
		{"xCON", "xCON"},
		{"-", "-"},
		{"_", "_"},
		// Drive letters and the characters Windows forbids.
		{"C:", "C_"},
		{"C:..", "C___"},
		{`a<b>c:d"e|f?g*h`, "a_b_c_d_e_f_g_h"},
		{"a/b", "a-b"},
		{`a\b`, "a-b"},
		// Control characters (C0, DEL, C1) and invalid UTF-8.
		{"a\x00b\x1fc\x7fd\u0085e", "a_b_c_d_e"},
		{"a\xffb", "a_b"},
		// Reserved device names, with or without extension, any case.
		{"CON", "_CON"},
		{"con", "_con"},
		{"Aux.dcm", "_Aux.dcm"},
		{"nul.tar.gz", "_nul.tar.gz"},
		{"PRN ", "PRN_"}, // the space goes first; "PRN_" is no device
		{"COM1", "_COM1"},
		{"lpt9.txt", "_lpt9.txt"},
		{"COM0", "_COM0"},
		{"COM¹", "_COM¹"},
		{"CONIN$", "_CONIN$"},
		{"conout$.log", "_conout$.log"},
		{"CON .dcm", "_CON .dcm"},
		// Trailing dots and spaces.
		{"1.2.3.", "1.2.3_"},
		{"name . ", "name___"},
		{"...", "___"},
		// Empty and dot names.
		{"", "_"},
		{".", "-"},
		{"..", "--"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := portableName(tt.in)
			assert.Equal(t, tt.want, got)
			assert.True(t, isPortable(got), "%q is not portable", got)
			assert.Equal(t, got, portableName(got), "not idempotent")
		})
	}
}

// FuzzPortableName: any input gives a portable name; portable inputs are
// kept as they are (ordinary names never change); the result is a
// function of the input alone.
func FuzzPortableName(f *testing.F) {
	for _, s := range []string{"C:", "CON.dcm", "1.2.3.", "a\x00b", "COM¹", "\xff", "", "..", "a/b\\c", "conout$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := portableName(s)
		if !isPortable(got) {
			t.Fatalf("portableName(%q) = %q, not portable", s, got)
		}
		if isPortable(s) && got != s {
			t.Fatalf("portableName(%q) = %q, but the input was portable", s, got)
		}
		if again := portableName(got); again != got {
			t.Fatalf("portableName(%q) = %q, then %q", s, got, again)
		}
	})
}

// TestZipPortableFolders writes a study whose Study Instance UID is "C:"
// and another that becomes the same folder: the archive holds portable,
// distinct folders and is the same bytes every time.
func TestZipPortableFolders(t *testing.T) {
	t.Parallel()
	res, _ := mixedStudies(t)
	require.GreaterOrEqual(t, len(res.Studies), 2)
	res.Studies[0].StudyInstanceUID = "C:"
	res.Studies[1].StudyInstanceUID = "c_"
	write := func() []byte {
		var buf bytes.Buffer
		_, err := (&Zip{}).Write(context.Background(), &buf, res.Studies)
		require.NoError(t, err)
		return buf.Bytes()
	}
	a := write()
	assert.Equal(t, a, write(), "the archive must be byte-deterministic")

	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	require.NoError(t, err)
	folders := map[string]bool{}
	for _, f := range zr.File {
		dir, name, ok := strings.Cut(f.Name, "/")
		require.True(t, ok, f.Name)
		assert.True(t, isPortable(dir) && isPortable(name), f.Name)
		folders[dir] = true
	}
	assert.True(t, folders["C_"], "folders: %v", folders)
	assert.True(t, folders["c__2"], "folders: %v", folders)
}
