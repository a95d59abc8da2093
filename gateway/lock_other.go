//go:build !unix

package gateway

import (
	"fmt"
	"os"
)

// lockSpool opens path; without flock, two gateways sharing a spool are
// not detected on this system.
func lockSpool(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return f, nil
}
