// Package deidscan de-identifies the instances a dicomscan scan found:
// it opens each one where the scan found it (a file, or a member of a .zip
// input) and runs a deid.Profile over it. The uploader's de-identification
// and examples/deid share it.
package deidscan

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/dicombridge/dicombridge/deid"
	"github.com/dicombridge/dicombridge/dicomscan"
)

// Sources opens scanned instances, keeping the .zip inputs open until
// Close. It is safe for concurrent use.
type Sources struct {
	mu       sync.Mutex // guards archives
	archives map[string]*archive
}

type archive struct {
	zr    *zip.ReadCloser
	files map[string]*zip.File
	err   error
}

// Open returns the bytes of in: its file, or its member of a .zip input.
func (s *Sources) Open(in *dicomscan.Instance) (io.ReadCloser, error) {
	if in.Archive == "" {
		return os.Open(in.Path)
	}
	s.mu.Lock()
	if s.archives == nil {
		s.archives = make(map[string]*archive)
	}
	a := s.archives[in.Archive]
	if a == nil {
		a = &archive{}
		a.zr, a.err = zip.OpenReader(in.Archive)
		if a.err == nil {
			a.files = make(map[string]*zip.File, len(a.zr.File))
			for _, f := range a.zr.File {
				if _, dup := a.files[f.Name]; !dup {
					a.files[f.Name] = f
				}
			}
		}
		s.archives[in.Archive] = a
	}
	s.mu.Unlock()
	if a.err != nil {
		return nil, a.err
	}
	f := a.files[in.Member]
	if f == nil {
		return nil, fmt.Errorf("member %q is gone from %s", in.Member, in.Archive)
	}
	return f.Open()
}

// Close closes the .zip inputs opened so far.
func (s *Sources) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.archives {
		if a.zr != nil {
			a.zr.Close()
		}
	}
	s.archives = nil
	return nil
}

// Apply de-identifies in with p into dst.
func (s *Sources) Apply(ctx context.Context, p *deid.Profile, dst io.Writer, in *dicomscan.Instance) (*deid.Result, error) {
	r, err := s.Open(in)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return p.Apply(ctx, dst, r)
}
