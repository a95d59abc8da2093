// Package tusdlock is the lock provider the SDK's in-process tusd servers
// (auratest, tusclient/tustest) use instead of tusd's stock memorylocker
// behaviour.
//
// With the stock locker, a request for an upload that another request holds
// asks the holder to release it, and tusd v2.10.0 has a data race on that
// interruption path (handler/context.go reads the request body that
// writeChunk replaces; tus/tusd#1192) which the race detector reports in
// tests that cut connections mid-PATCH. Here a request for a held upload
// waits instead (up to tusd's AcquireLockTimeout) until the holder
// finishes, which it does as soon as its connection is gone. Clients see
// the same outcome, one request later.
package tusdlock

import (
	"context"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
)

// New returns an in-memory tusd locker whose locks wait for their holder
// instead of asking it to let go.
func New() handler.Locker { return waitLocker{memorylocker.New()} }

type waitLocker struct{ inner *memorylocker.MemoryLocker }

func (l waitLocker) NewLock(id string) (handler.Lock, error) {
	lk, err := l.inner.NewLock(id)
	if err != nil {
		return nil, err
	}
	return waitLock{lk}, nil
}

type waitLock struct{ inner handler.Lock }

// Lock acquires the lock, never asking the current holder to release it.
func (w waitLock) Lock(ctx context.Context, _ func()) error { return w.inner.Lock(ctx, func() {}) }

func (w waitLock) Unlock() error { return w.inner.Unlock() }
