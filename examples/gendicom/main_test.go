package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

// gendicom runs the program in-process: exit code, stdout, stderr.
func gendicom(args ...string) (int, string, string) {
	return testenv.Run(context.Background(), run, args...)
}

// TestWritesStudies: N×M×K files that dicomscan groups back into N studies,
// every modality and character set named on the way.
func TestWritesStudies(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "dir")
	code, out, errOut := gendicom("-studies", "3", "-series", "4", "-instances", "2", "-size", "32", dir)
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Regexp(t, `^wrote 24 files \(.* KiB\) in .* to `, lines[0])
	assert.Regexp(t, `^  study01  CT  Müller\^Jürgen  \(ISO_IR 100\)  2\.25\.\d+$`, lines[1])
	assert.Regexp(t, `^  study02  MR  Doe\^Jane  \(ASCII\)  2\.25\.\d+$`, lines[2])
	assert.Regexp(t, `^  study03  NM  Иванов\^Пётр  \(ISO_IR 144\)  2\.25\.\d+$`, lines[3])

	res, err := dicomscan.Scan(context.Background(), dir)
	require.NoError(t, err)
	assert.Equal(t, [4]int{3, 12, 24, 0}, [4]int{len(res.Studies), res.Series(), res.Instances(),
		len(res.Skipped) + len(res.Rejected) + len(res.Errors)})
	syntaxes := map[string]bool{}
	for _, st := range res.Studies {
		for _, se := range st.Series {
			for _, in := range se.Instances {
				syntaxes[in.TransferSyntaxUID] = true
			}
		}
	}
	assert.Len(t, syntaxes, 4, "explicit, jpeg, implicit and rle by default")
}

// TestSeed: the same seed gives the same bytes, another seed other files.
func TestSeed(t *testing.T) {
	t.Parallel()
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	for dir, seed := range map[string]string{a: "42", b: "42", c: "43"} {
		code, _, errOut := gendicom("-seed", seed, "-instances", "2", "-size", "16", dir)
		require.Equal(t, 0, code, errOut)
	}
	assert.Equal(t, tree(t, a), tree(t, b))
	assert.NotEqual(t, tree(t, a), tree(t, c))
}

func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		m[strings.TrimPrefix(p, dir)] = string(b)
		return err
	}))
	return m
}

func TestUsage(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for name, c := range map[string]struct {
		args []string
		code int
		want string
	}{
		"help":          {[]string{"-h"}, 0, ""},
		"help long":     {[]string{"-help", "dir"}, 0, ""},
		"no dir":        {nil, 2, "gendicom: want one DIR, got 0 arguments (run 'gendicom -h' for usage)\n"},
		"two dirs":      {[]string{"a", "b"}, 2, "gendicom: want one DIR, got 2 arguments (run 'gendicom -h' for usage)\n"},
		"zero studies":  {[]string{"-studies", "0", "d"}, 2, "gendicom: -studies, -series and -instances must be at least 1 (run 'gendicom -h' for usage)\n"},
		"too many":      {[]string{"-studies", "1000", "-series", "10", "-instances", "11", "d"}, 2, "gendicom: at most 100000 files in one run (run 'gendicom -h' for usage)\n"},
		"size":          {[]string{"-size", "5000", "d"}, 2, "gendicom: -size must be 1-4096 (run 'gendicom -h' for usage)\n"},
		"modality":      {[]string{"-modalities", "CT,US", "d"}, 2, "gendicom: -modalities: unknown \"US\" (want CT, MR or NM) (run 'gendicom -h' for usage)\n"},
		"syntax":        {[]string{"-syntaxes", "jpeg2000", "d"}, 2, "gendicom: -syntaxes: unknown \"jpeg2000\" (want explicit, implicit, big, jpeg or rle) (run 'gendicom -h' for usage)\n"},
		"bad flag":      {[]string{"-nope", "d"}, 2, "gendicom: flag provided but not defined: -nope (run 'gendicom -h' for usage)\n"},
		"dir is a file": {[]string{file}, 2, "gendicom: " + file + " is not a directory (run 'gendicom -h' for usage)\n"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := gendicom(c.args...)
			assert.Equal(t, c.code, code)
			assert.Equal(t, c.want, errOut)
			if c.code == 0 {
				assert.Contains(t, out, "usage: gendicom")
				assert.Contains(t, out, "exit status:")
			}
		})
	}
	_, err := os.Stat("d")
	assert.True(t, os.IsNotExist(err), "a usage error writes nothing")
}

// TestInterrupted: a cancelled context exits 130.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"-studies", "20", t.TempDir()}, &out, &errOut)
	assert.Equal(t, 130, code)
	assert.Equal(t, "gendicom: interrupted\n", errOut.String())
}
