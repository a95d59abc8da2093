package auratest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Close must leave no goroutine behind: no listener, handler or injected
// delay outlives the server. tusd parks one goroutine per request that
// ends GracefulRequestCompletionTimeout (1 s here) after the request; it
// is not a leak, so it is ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/tus/tusd/v2/pkg/handler.newDelayedContext.func1"))
}
