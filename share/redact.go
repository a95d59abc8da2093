package share

import (
	"fmt"
	"io"
	"log/slog"
)

// The types below hold secrets (HMAC keys, passwords, tokens). fmt would print
// their fields, unexported ones included, so they format themselves with
// the secrets redacted.

// redacted describes the value without the secrets.
func (c CodecConfig) redacted() string {
	return fmt.Sprintf("share.CodecConfig{Secret: [redacted %d bytes], PreviousSecrets: %d redacted, AllowShortPreviousSecrets: %v}",
		len(c.Secret), len(c.PreviousSecrets), c.AllowShortPreviousSecrets)
}

// Format implements fmt.Formatter: every verb (%v, %+v, %#v, %s, ...)
// prints the value without the secrets.
func (c CodecConfig) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.redacted()) }

// redacted describes the value without the secrets.
func (c *Codec) redacted() string {
	if c == nil {
		return "share.Codec(nil)"
	}
	return fmt.Sprintf("share.Codec{keys: %d redacted}", len(c.keys.Keys))
}

// Format implements fmt.Formatter: every verb (%v, %+v, %#v, %s, ...)
// prints the value without the secrets.
func (c *Codec) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.redacted()) }

// redacted describes the value without passwords.
func (c Config) redacted() string {
	return fmt.Sprintf("share.Config{Users: %d (passwords redacted), AllowAnonymous: %v, ServerID: %q, AnonymizedServerID: %q, Links: %+v}",
		len(c.Users), c.AllowAnonymous, c.ServerID, c.AnonymizedServerID, c.Links)
}

// Format implements fmt.Formatter: every verb (%v, %+v, %#v, %s, ...)
// prints the value without passwords.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.redacted()) }

// redacted describes the value without secrets.
func (s *Service) redacted() string {
	if s == nil {
		return "share.Service(nil)"
	}
	return fmt.Sprintf("share.Service{users: %d, serverID: %q}", len(s.users), s.serverID)
}

// Format implements fmt.Formatter: every verb (%v, %+v, %#v, %s, ...)
// prints the value without secrets.
func (s *Service) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.redacted()) }

// redacted describes the value without the password.
func (c *OrthancClient) redacted() string {
	if c == nil {
		return "share.OrthancClient(nil)"
	}
	return fmt.Sprintf("share.OrthancClient{URL: %q, Username: %q, Password: [redacted]}", c.URL, c.Username)
}

// Format implements fmt.Formatter: every verb (%v, %+v, %#v, %s, ...)
// prints the value without the password.
func (c *OrthancClient) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.redacted()) }

// redacted describes the value without the token.
func (a Access) redacted() string {
	return fmt.Sprintf("share.Access{Method: %q, Level: %q, OrthancID: %q, DicomUID: %q, ServerID: %q, Token: [redacted]}",
		a.Method, a.Level, a.OrthancID, a.DicomUID, a.ServerID)
}

// Format implements fmt.Formatter: every verb (%v, %+v, %#v, %s, ...)
// prints the value without the token.
func (a Access) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.redacted()) }

// LogValue implements slog.LogValuer without the token.
func (a Access) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", a.Method), slog.String("level", string(a.Level)),
		slog.String("orthanc_id", a.OrthancID), slog.String("dicom_uid", a.DicomUID), slog.String("server_id", a.ServerID))
}
