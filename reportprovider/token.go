package reportprovider

import (
	"fmt"
	"io"
	"log/slog"
)

// Token is a secret string: an access token, an authorization code or a
// client assertion. It formats as "[redacted]" with every fmt verb and in
// slog, so a Session or Launch can be printed or logged without leaking it.
// Convert explicitly, string(t), where the raw value is needed.
// encoding/json marshals the raw value, so that a Session can be stored;
// log the Session itself (it implements slog.LogValuer), not its JSON.
type Token string

const redacted = "[redacted]"

// String returns "[redacted]".
func (Token) String() string { return redacted }

// GoString returns "[redacted]", also for %#v.
func (Token) GoString() string { return redacted }

// Format writes "[redacted]" for every verb.
func (Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue keeps the token out of slog output.
func (Token) LogValue() slog.Value { return slog.StringValue(redacted) }
