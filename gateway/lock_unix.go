//go:build unix

package gateway

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockSpool takes an exclusive lock on path (flock), released when the
// returned file is closed or the process dies, kill -9 included.
func lockSpool(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("gateway: locking the spool: %w", err)
	}
	return f, nil
}
