//go:build !unix

package dicomscan

import "errors"

func mkfifo(string) error { return errors.ErrUnsupported }
