package uploader

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dicombridge/dicombridge/dicomscan"
)

// The state file is read back from disk, where anything may have happened
// to it: it must parse into a valid state or fail, never panic.
func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"version":1,"upload_id":"5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e","assembly_id":"4JmDCtwqNT5ItJDHN7Pbf",` +
		`"api":"https://aura.example.com/api","paths":["/data/x"],"archive":{"store":false,"level":1},"format":"f",` +
		`"plan":"` + strings.Repeat("ab", 32) + `","size":1234,"step":"started","created":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"version":1,"step":"uploaded","paths":["relative"]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseState(data)
		if err != nil {
			return
		}
		if !uuidPattern.MatchString(st.UploadID) || stepOrder[st.Step] == 0 || st.Size < 0 || len(st.Paths) == 0 {
			t.Fatalf("accepted %+v", st)
		}
		for _, p := range st.Paths {
			if !filepath.IsAbs(p) {
				t.Fatalf("accepted relative path %q", p)
			}
		}
	})
}

// The checksum file may be torn by a crash: parseSums keeps the valid
// records before the first bad one.
func FuzzParseSums(f *testing.F) {
	good := make([]byte, 2*sumRecordSize)
	copy(good, "0123456789abcdef")
	putCRC(good[:sumRecordSize])
	copy(good[sumRecordSize:], "fedcba9876543210")
	putCRC(good[sumRecordSize:])
	f.Add(good)
	f.Add(good[:30])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sums := parseSums(data)
		if len(sums)*sumRecordSize > len(data) {
			t.Fatalf("%d records from %d bytes", len(sums), len(data))
		}
		for i, s := range sums {
			if !bytes.Equal(s[:], data[i*sumRecordSize:i*sumRecordSize+16]) {
				t.Fatalf("record %d differs from the data", i)
			}
		}
	})
}

// A plan file compared with the current files: equal, a clear
// SourcesChangedError, or an error; never a panic, and never "equal" unless
// the bytes are those the files produce.
func FuzzComparePlan(f *testing.F) {
	entries := []dicomscan.Entry{
		{Name: "1.2/a.dcm", Instance: &dicomscan.Instance{Path: "/d/a.dcm", Size: 10, ModTime: time.Unix(5, 6)}},
		{Name: "1.2/b.dcm", Instance: &dicomscan.Instance{Path: "/d/z.zip//b.dcm", Archive: "/d/z.zip", Member: "b.dcm", Size: 20}},
	}
	opts := archiveOptions{Level: 1}
	var want bytes.Buffer
	planLines(opts, entries, func(b []byte) error { want.Write(b); return nil })
	f.Add(want.Bytes())
	f.Add(bytes.Replace(want.Bytes(), []byte(`"size":10`), []byte(`"size":11`), 1))
	f.Add([]byte("{\n"))
	f.Add([]byte{})
	dir := f.TempDir()
	const id = "5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e"
	f.Fuzz(func(t *testing.T, plan []byte) {
		if err := os.WriteFile(statePath(dir, id, ".plan"), plan, 0o600); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(plan)
		st := &savedState{UploadID: id, Archive: opts, Plan: hex.EncodeToString(sum[:])}
		err := comparePlan(dir, st, entries)
		if err == nil && !bytes.Equal(plan, want.Bytes()) {
			t.Fatalf("accepted a different plan:\n%s", plan)
		}
		var sc *SourcesChangedError
		if errors.As(err, &sc) && (sc.UploadID != id || sc.Detail == "") {
			t.Fatalf("bad error %+v", sc)
		}
	})
}

// Whatever a server answers, the message sent to Aura's error endpoint is
// bounded, valid UTF-8 without control characters, and carries no
// credential.
func FuzzReportMessage(f *testing.F) {
	f.Add("tus says: token lift_abcdefghijklmnop and aubt_0123456789abcdef, Bearer xyz", "lift_abcdefghijklmnop")
	f.Add(strings.Repeat("é", 600), "secret")
	f.Fuzz(func(t *testing.T, text, secret string) {
		msg := reportMessage(errors.New(text), secret)
		if len(msg) > maxReport+len("…") || !utf8.ValidString(msg) && utf8.ValidString(text) {
			t.Fatalf("message of %d bytes: %q", len(msg), msg)
		}
		if strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("control character in %q", msg)
		}
		if len(secret) >= 8 && strings.Contains(msg, secret) && !strings.Contains(strings.ReplaceAll(text, secret, ""), secret) {
			t.Fatalf("secret %q in %q", secret, msg)
		}
		if m := credentialLike.FindString(msg); m != "" && !strings.Contains(m, "…#") && len(m) > 12 {
			t.Fatalf("credential %q in %q", m, msg)
		}
	})
}
