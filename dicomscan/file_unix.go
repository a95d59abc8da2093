//go:build unix

package dicomscan

import (
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// rawFile reads a file through its descriptor without os.File, whose
// registration with the runtime poller (an epoll_ctl and a failed
// registration per file on Linux) costs as much as reading a header.
// O_NONBLOCK makes opening a FIFO that replaced a file since the walk
// return at once instead of blocking; the caller then sees it is not a
// regular file.
type rawFile struct {
	fd   int
	path string
}

func openFile(path string) (file, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return &rawFile{fd: fd, path: path}, nil
	}
}

func (f *rawFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(f.fd, p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *rawFile) Seek(offset int64, whence int) (int64, error) {
	off, err := syscall.Seek(f.fd, offset, whence)
	if err != nil {
		return 0, &fs.PathError{Op: "seek", Path: f.path, Err: err}
	}
	return off, nil
}

func (f *rawFile) Close() error { return syscall.Close(f.fd) }

func (f *rawFile) stat() (size int64, mtime time.Time, regular bool, err error) {
	var st syscall.Stat_t
	for {
		err = syscall.Fstat(f.fd, &st)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return 0, time.Time{}, false, &fs.PathError{Op: "stat", Path: f.path, Err: err}
	}
	sec, nsec := st.Mtim.Unix()
	return st.Size, time.Unix(sec, nsec), st.Mode&syscall.S_IFMT == syscall.S_IFREG, nil
}

// openNonBlocking opens path as an *os.File (for archive/zip's ReaderAt)
// with O_NONBLOCK, so that a FIFO does not block the open; see rawFile.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
