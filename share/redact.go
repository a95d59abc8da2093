package share

import (
	"fmt"
	"log/slog"
)

// The types below hold secrets (HMAC keys, passwords, tokens). fmt would print
// their fields, unexported ones included, so they format themselves with
// the secrets redacted.

// String implements fmt.Stringer without the secrets.
func (c CodecConfig) String() string {
	return fmt.Sprintf("share.CodecConfig{Secret: [redacted %d bytes], PreviousSecrets: %d redacted, AllowShortPreviousSecrets: %v, CacheSize: %d}",
		len(c.Secret), len(c.PreviousSecrets), c.AllowShortPreviousSecrets, c.CacheSize)
}

// GoString implements fmt.GoStringer without the secrets.
func (c CodecConfig) GoString() string { return c.String() }

// String implements fmt.Stringer without the secrets.
func (c *Codec) String() string {
	if c == nil {
		return "share.Codec(nil)"
	}
	return fmt.Sprintf("share.Codec{keys: %d redacted}", len(c.keys.Keys))
}

// GoString implements fmt.GoStringer without the secrets.
func (c *Codec) GoString() string { return c.String() }

// String implements fmt.Stringer without passwords.
func (c Config) String() string {
	return fmt.Sprintf("share.Config{Users: %d (passwords redacted), AllowAnonymous: %v, ServerID: %q, AnonymizedServerID: %q, Links: %+v}",
		len(c.Users), c.AllowAnonymous, c.ServerID, c.AnonymizedServerID, c.Links)
}

// GoString implements fmt.GoStringer without passwords.
func (c Config) GoString() string { return c.String() }

// String implements fmt.Stringer without secrets.
func (s *Service) String() string {
	if s == nil {
		return "share.Service(nil)"
	}
	return fmt.Sprintf("share.Service{users: %d, serverID: %q}", len(s.users), s.serverID)
}

// GoString implements fmt.GoStringer without secrets.
func (s *Service) GoString() string { return s.String() }

// String implements fmt.Stringer without the password.
func (c *OrthancClient) String() string {
	if c == nil {
		return "share.OrthancClient(nil)"
	}
	return fmt.Sprintf("share.OrthancClient{URL: %q, Username: %q, Password: [redacted]}", c.URL, c.Username)
}

// GoString implements fmt.GoStringer without the password.
func (c *OrthancClient) GoString() string { return c.String() }

// String implements fmt.Stringer without the token.
func (a Access) String() string {
	return fmt.Sprintf("share.Access{Method: %q, Level: %q, OrthancID: %q, DicomUID: %q, ServerID: %q, Token: [redacted]}",
		a.Method, a.Level, a.OrthancID, a.DicomUID, a.ServerID)
}

// GoString implements fmt.GoStringer without the token.
func (a Access) GoString() string { return a.String() }

// LogValue implements slog.LogValuer without the token.
func (a Access) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", a.Method), slog.String("level", string(a.Level)),
		slog.String("orthanc_id", a.OrthancID), slog.String("dicom_uid", a.DicomUID), slog.String("server_id", a.ServerID))
}
