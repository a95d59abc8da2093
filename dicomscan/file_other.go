//go:build !unix

package dicomscan

import (
	"os"
	"time"
)

type osFile struct{ *os.File }

func openFile(path string) (file, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (f osFile) stat() (int64, time.Time, bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, time.Time{}, false, err
	}
	return fi.Size(), fi.ModTime(), fi.Mode().IsRegular(), nil
}

func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }
