package reportprovider

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// Limits on launch parameters. KHEOPS codes and tokens are JWS strings of a
// few hundred bytes; anything far larger is hostile.
const (
	maxTokenLen    = 8 << 10
	maxURILen      = 2048
	maxStudies     = 1000
	maxFragmentLen = 256 << 10
)

// Launch holds the parameters KHEOPS appends to the provider's redirect_uri:
// in the query for the code flow, in the fragment for the implicit flow.
// Nothing in it is trusted until [Provider.Complete] has checked it.
type Launch struct {
	Flow        string // ResponseTypeCode or ResponseTypeToken
	Code        Token  // code flow: the authorization code
	AccessToken Token  // implicit flow: the access token
	Scope       string // implicit flow: "read" or "read write"
	ConfURI     string // the KHEOPS configuration document URL
	ClientID    string // this provider's client ID on that KHEOPS album
	ReturnURI   string // where to send the user back; validated later
	StudyUIDs   []string

	tokenType string // implicit flow: "bearer"
	expiresIn int    // implicit flow: seconds, 0 if absent
}

// LogValue logs the launch without its code or token.
func (l *Launch) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("flow", l.Flow),
		slog.String("conf_uri", l.ConfURI),
		slog.String("client_id", l.ClientID),
		slog.Int("studies", len(l.StudyUIDs)),
	)
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// maxUIDLen bounds a study UID. DICOM allows 64 characters, but KHEOPS
// launches any UID that parses as an OID, so a provider accepts more.
const maxUIDLen = 256

// validUID reports whether s is a study UID KHEOPS would launch: an OID in
// dotted form (leading zeros and more than 64 characters allowed; see
// docs/kheops.md, "Launch"), at most maxUIDLen characters. Only digits and
// dots pass, so a valid UID is safe as a URL path segment.
func validUID(s string) bool { return len(s) <= maxUIDLen && dicomio.IsOID(s) }

// ParseLaunch reads launch parameters from a query (code flow) or decoded
// fragment (implicit flow). Exactly one of code and access_token must be
// present; conf_uri and client_id are required; every single-valued
// parameter may appear at most once (parameter pollution is refused);
// studyUID may repeat and each must be a valid UID. Parameters it does not
// know are ignored, since redirect_uri may carry its own query.
func ParseLaunch(v url.Values) (*Launch, error) {
	one := func(name string) (string, error) {
		vals := v[name]
		switch len(vals) {
		case 0:
			return "", nil
		case 1:
			return vals[0], nil
		default:
			return "", fmt.Errorf("%w: %s is repeated", ErrInvalidLaunch, name)
		}
	}
	var l Launch
	fields := []struct {
		name string
		dst  *string
		max  int
	}{
		{"conf_uri", &l.ConfURI, maxURILen},
		{"client_id", &l.ClientID, 128},
		{"return_uri", &l.ReturnURI, maxURILen},
		{"token_type", &l.tokenType, 32},
		{"scope", &l.Scope, 256},
	}
	for _, f := range fields {
		s, err := one(f.name)
		if err != nil {
			return nil, err
		}
		if len(s) > f.max {
			return nil, fmt.Errorf("%w: %s is too long", ErrInvalidLaunch, f.name)
		}
		*f.dst = s
	}
	code, err := one("code")
	if err != nil {
		return nil, err
	}
	tok, err := one("access_token")
	if err != nil {
		return nil, err
	}
	exp, err := one("expires_in")
	if err != nil {
		return nil, err
	}
	_, hasCode := v["code"]
	_, hasTok := v["access_token"]
	switch {
	case hasCode && hasTok:
		return nil, fmt.Errorf("%w: both code and access_token are present", ErrInvalidLaunch)
	case hasCode:
		l.Flow = ResponseTypeCode
		if err := checkOpaque("code", code); err != nil {
			return nil, err
		}
		l.Code = Token(code)
	case hasTok:
		l.Flow = ResponseTypeToken
		if err := checkOpaque("access_token", tok); err != nil {
			return nil, err
		}
		l.AccessToken = Token(tok)
		if !strings.EqualFold(l.tokenType, "bearer") {
			return nil, fmt.Errorf("%w: token_type must be bearer", ErrInvalidLaunch)
		}
		if exp != "" {
			n, err := strconv.Atoi(exp)
			if err != nil || n <= 0 || n > 366*24*3600 {
				return nil, fmt.Errorf("%w: expires_in is not a positive number of seconds", ErrInvalidLaunch)
			}
			l.expiresIn = n
		}
		for _, w := range strings.Fields(l.Scope) {
			if w != "read" && w != "write" {
				return nil, fmt.Errorf("%w: unknown scope word", ErrInvalidLaunch)
			}
		}
	default:
		return nil, fmt.Errorf("%w: neither code nor access_token is present", ErrInvalidLaunch)
	}
	if l.ConfURI == "" {
		return nil, fmt.Errorf("%w: conf_uri is required", ErrInvalidLaunch)
	}
	if l.ClientID == "" {
		return nil, fmt.Errorf("%w: client_id is required", ErrInvalidLaunch)
	}
	if !clientIDPattern.MatchString(l.ClientID) {
		return nil, fmt.Errorf("%w: client_id has unexpected characters", ErrInvalidLaunch)
	}
	uids := v["studyUID"]
	if len(uids) > maxStudies {
		return nil, fmt.Errorf("%w: more than %d studyUID parameters", ErrInvalidLaunch, maxStudies)
	}
	seen := make(map[string]bool, len(uids))
	for _, u := range uids {
		if !validUID(u) {
			return nil, fmt.Errorf("%w: studyUID is not a valid DICOM UID", ErrInvalidLaunch)
		}
		if seen[u] {
			return nil, fmt.Errorf("%w: studyUID is repeated", ErrInvalidLaunch)
		}
		seen[u] = true
	}
	if len(uids) > 0 {
		l.StudyUIDs = append([]string(nil), uids...)
	}
	return &l, nil
}

// parseFragment reads implicit-flow launch parameters from a URL fragment
// (without the leading '#'), decoded once as KHEOPS encodes them.
func parseFragment(fragment string) (*Launch, error) {
	if len(fragment) > maxFragmentLen {
		return nil, fmt.Errorf("%w: fragment is too long", ErrInvalidLaunch)
	}
	v, err := url.ParseQuery(strings.TrimPrefix(fragment, "#"))
	if err != nil {
		return nil, fmt.Errorf("%w: fragment is not form-encoded", ErrInvalidLaunch)
	}
	l, err := ParseLaunch(v)
	if err != nil {
		return nil, err
	}
	if l.Flow != ResponseTypeToken {
		return nil, fmt.Errorf("%w: a fragment must carry an access_token", ErrInvalidLaunch)
	}
	return l, nil
}

// checkOpaque accepts a non-empty code or token of visible ASCII.
func checkOpaque(name, s string) error {
	if !opaqueOK(s) {
		return fmt.Errorf("%w: %s is empty, too long or has unexpected characters", ErrInvalidLaunch, name)
	}
	return nil
}

func opaqueOK(s string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
