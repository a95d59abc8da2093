package share

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest secret [NewCodec] accepts for signing: 32
// bytes, the HS256 key size. Generate one with crypto/rand (for example
// "openssl rand -base64 48").
const MinSecretLen = 32

// maxTokenLen bounds the tokens [Codec.Decode] looks at; longer strings
// are malformed without further work.
const maxTokenLen = 16 << 10

// maxResources bounds the resources of one token.
const maxResources = 1000

// maxValidityDuration bounds validity_duration when minting (ten years):
// the authorization plugin may send an uninitialised value (see
// docs/orthanc.md, "Minting").
const maxValidityDuration = 10 * 365 * 24 * 3600

// headerSegment is base64url({"alg":"HS256","typ":"JWT"}), the header
// PyJWT 2 writes (sorted keys, compact).
const headerSegment = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

// CodecConfig configures a [Codec]. Only Secret is required.
type CodecConfig struct {
	// Secret signs new tokens and verifies tokens; at least
	// [MinSecretLen] bytes.
	Secret []byte
	// PreviousSecrets are also accepted when verifying (never used to
	// sign), so that links survive a secret rotation. Each must be at
	// least MinSecretLen bytes unless AllowShortPreviousSecrets is set.
	PreviousSecrets [][]byte
	// AllowShortPreviousSecrets accepts PreviousSecrets shorter than
	// MinSecretLen, to keep links of a Python deployment that used a
	// demo key (such as "change-me-I-am-a-secret-key") valid while
	// migrating. Anyone who guesses such a key can forge links.
	AllowShortPreviousSecrets bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of token ids; nil means crypto/rand.Reader.
	Rand io.Reader
}

// defaultCacheSize is the number of verified tokens a [Codec] remembers:
// a token seen again (the plugin validates one token for many requests)
// skips the signature check and payload parsing; expiry and revocation
// are still checked every time. The key is the exact token string, so a
// hit proves what a verification would.
const defaultCacheSize = 4096

// maxCachedTokenLen keeps unusually long tokens out of the cache, so that
// it stays within a few megabytes.
const maxCachedTokenLen = 2048

// Codec mints and decodes share tokens: HS256 JWTs in the payload layouts
// of orthanc-share and orthanc-auth-service. It accepts only HS256,
// whatever the token header says, and compares MACs in constant time.
// A Codec is safe for concurrent use.
type Codec struct {
	sign   []byte
	keys   jwt.VerificationKeySet
	parser *jwt.Parser
	now    func() time.Time
	rand   io.Reader

	cacheMax int
	cache    sync.Map     // token string -> *Claims (never modified once stored)
	cacheLen atomic.Int64 // approximate number of entries in cache
}

// NewCodec checks cfg and returns a Codec. It fails with [ErrWeakSecret]
// if a secret is too short.
func NewCodec(cfg CodecConfig) (*Codec, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: Secret has %d bytes", ErrWeakSecret, len(cfg.Secret))
	}
	c := &Codec{
		sign:   bytes.Clone(cfg.Secret),
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding()),
		now:    cfg.Now,
		rand:   cfg.Rand,
	}
	c.keys.Keys = append(c.keys.Keys, c.sign)
	for i, k := range cfg.PreviousSecrets {
		if len(k) < MinSecretLen && !cfg.AllowShortPreviousSecrets {
			return nil, fmt.Errorf("%w: PreviousSecrets[%d] has %d bytes (see AllowShortPreviousSecrets)", ErrWeakSecret, i, len(k))
		}
		if len(k) == 0 {
			return nil, fmt.Errorf("%w: PreviousSecrets[%d] is empty", ErrWeakSecret, i)
		}
		c.keys.Keys = append(c.keys.Keys, bytes.Clone(k))
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	c.cacheMax = defaultCacheSize
	return c, nil
}

// Mint signs a token for cl and returns it with the claims as written:
// TokenID (a random jti), IssuedAt and, when only ValidityDuration was
// given, ExpiresAt are filled in. The payload is laid out as the Python
// services write it (field order, nulls, ensure_ascii escaping), followed
// by the extra claims anonymized (V3 only, when true), server_id (when
// set), iat, exp (when the share expires) and jti. There is never an aud
// claim, which PyJWT would reject.
func (c *Codec) Mint(cl Claims) (string, Claims, error) {
	cl.Version = cl.Version.resolve()
	now := c.now()
	if cl.ExpiresAt.IsZero() && cl.ValidityDuration > 0 {
		cl.ExpiresAt = now.Add(time.Duration(cl.ValidityDuration) * time.Second)
	}
	if !cl.ExpiresAt.IsZero() {
		cl.ExpiresAt = cl.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	cl.Resources = slices.Clone(cl.Resources)
	for i := range cl.Resources {
		cl.Resources[i].Level = cl.Resources[i].level()
	}
	if err := checkMint(&cl); err != nil {
		return "", Claims{}, err
	}
	var id [16]byte
	if _, err := io.ReadFull(c.rand, id[:]); err != nil {
		return "", Claims{}, fmt.Errorf("share: reading random token id: %w", err)
	}
	cl.TokenID = base64.RawURLEncoding.EncodeToString(id[:])
	cl.revocationID = cl.TokenID
	cl.IssuedAt = time.Unix(now.Unix(), 0).UTC()
	cl.nbf = time.Time{}
	cl.exp = time.Time{}
	if !cl.ExpiresAt.IsZero() {
		cl.exp = cl.ExpiresAt.Truncate(time.Second)
		if cl.exp.Before(cl.ExpiresAt) {
			cl.exp = cl.exp.Add(time.Second)
		}
	}
	payload := appendPayload(make([]byte, 0, 256), &cl)
	return c.signPayload(payload), cl, nil
}

func (c *Codec) signPayload(payload []byte) string {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(headerSegment)+1+enc.EncodedLen(len(payload))+1+43)
	buf = append(buf, headerSegment...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, _ := jwt.SigningMethodHS256.Sign(string(buf), c.sign) // []byte key: cannot fail
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf)
}

func checkMint(cl *Claims) error {
	v := cl.Version
	if v < V0 || v > V3 {
		return fmt.Errorf("%w: unknown layout %d", ErrInvalidShare, int(v))
	}
	if !knownType(cl.Type, v) || cl.Type == typeInvalid {
		return fmt.Errorf("%w: type %q does not exist in layout %v", ErrInvalidShare, cl.Type, v)
	}
	if len(cl.Resources) == 0 {
		return fmt.Errorf("%w: no resources", ErrInvalidShare)
	}
	if len(cl.Resources) > maxResources {
		return fmt.Errorf("%w: more than %d resources", ErrInvalidShare, maxResources)
	}
	if (v == V0 || v == V1) && len(cl.Resources) != 1 {
		return fmt.Errorf("%w: layout %v holds exactly one study", ErrInvalidShare, v)
	}
	if v == V0 && cl.Anonymized {
		return fmt.Errorf("%w: layout v0 has no anonymized claim", ErrInvalidShare)
	}
	if e := cl.ExpiresAt; !e.IsZero() && !expiryInRange(e) {
		// Outside what both Python's isoformat and exp can carry.
		return fmt.Errorf("%w: expiration date %d is outside 1970-9999", ErrInvalidShare, e.Year())
	}
	if cl.ValidityDuration < 0 || cl.ValidityDuration > maxValidityDuration {
		return fmt.Errorf("%w: validity duration %d s out of range", ErrInvalidShare, cl.ValidityDuration)
	}
	strs := []string{cl.ID, string(cl.Type), cl.ServerID}
	for i, r := range cl.Resources {
		if r.DicomUID == "" && r.OrthancID == "" {
			return fmt.Errorf("%w: resource %d has neither dicom-uid nor orthanc-id", ErrInvalidShare, i)
		}
		if v != V3 && (r.URL != "" || r.level() != LevelStudy) {
			return fmt.Errorf("%w: layout %v shares whole studies only", ErrInvalidShare, v)
		}
		if l := r.level(); !validLevel(l) || l == LevelSystem {
			return fmt.Errorf("%w: resource %d has level %q", ErrInvalidShare, i, r.Level)
		}
		strs = append(strs, r.DicomUID, r.OrthancID, r.URL)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalidShare)
		}
	}
	return nil
}

// appendPayload writes the JSON payload of cl in its layout.
func appendPayload(b []byte, cl *Claims) []byte {
	b = append(b, `{"id":`...)
	b = appendPyNullString(b, cl.ID)
	switch cl.Version {
	case V0, V1:
		b = append(b, ',')
		b = appendIDs(b, cl.Resources[0])
		if cl.Version == V1 {
			b = appendAnonymized(b, cl.Anonymized)
		}
	case V2, V3:
		if cl.Version == V2 {
			b = append(b, `,"studies":[`...)
		} else {
			b = append(b, `,"resources":[`...)
		}
		for i, r := range cl.Resources {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			b = appendIDs(b, r)
			if cl.Version == V3 {
				b = append(b, `,"url":`...)
				b = appendPyNullString(b, r.URL)
				b = append(b, `,"level":`...)
				b = appendPyString(b, string(r.level()))
			}
			b = append(b, '}')
		}
		b = append(b, ']')
		if cl.Version == V2 {
			b = appendAnonymized(b, cl.Anonymized)
		}
	}
	b = append(b, `,"type":`...)
	b = appendPyString(b, string(cl.Type))
	b = append(b, `,"expiration_date":`...)
	if cl.ExpiresAt.IsZero() {
		b = append(b, "null"...)
	} else {
		b = appendPyString(b, formatPyTime(cl.ExpiresAt))
	}
	if cl.Version == V3 {
		b = append(b, `,"validity_duration":`...)
		if cl.ValidityDuration == 0 {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, int64(cl.ValidityDuration), 10)
		}
		if cl.Anonymized {
			b = appendAnonymized(b, true)
		}
	}
	if cl.ServerID != "" {
		b = append(b, `,"server_id":`...)
		b = appendPyString(b, cl.ServerID)
	}
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, cl.IssuedAt.Unix(), 10)
	if !cl.exp.IsZero() {
		b = append(b, `,"exp":`...)
		b = strconv.AppendInt(b, cl.exp.Unix(), 10)
	}
	b = append(b, `,"jti":`...)
	b = appendPyString(b, cl.TokenID)
	return append(b, '}')
}

// appendIDs writes "dicom_uid":...,"orthanc_id":... of r.
func appendIDs(b []byte, r Resource) []byte {
	b = append(b, `"dicom_uid":`...)
	b = appendPyNullString(b, r.DicomUID)
	b = append(b, `,"orthanc_id":`...)
	return appendPyNullString(b, r.OrthancID)
}

func appendAnonymized(b []byte, a bool) []byte {
	if a {
		return append(b, `,"anonymized":true`...)
	}
	return append(b, `,"anonymized":false`...)
}

// rawPayload keeps the payload bytes so that they are interpreted only
// after the signature is verified.
type rawPayload struct{ b []byte }

func (r *rawPayload) UnmarshalJSON(b []byte) error {
	r.b = append(r.b[:0], b...)
	return nil
}

func (*rawPayload) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (*rawPayload) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (*rawPayload) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (*rawPayload) GetIssuer() (string, error)                   { return "", nil }
func (*rawPayload) GetSubject() (string, error)                  { return "", nil }
func (*rawPayload) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// Decode verifies token (HS256 with the configured secrets), reads any of
// the four payload layouts (snake_case or hyphenated names) and checks the
// times. The error wraps [ErrMalformed], [ErrSignature], [ErrExpired] or
// [ErrNotYetValid]; with ErrExpired and ErrNotYetValid the claims are
// returned as well (a landing page shows the type of an expired token).
// A bearer prefix is not accepted here; see stripBearer.
func (c *Codec) Decode(token string) (Claims, error) {
	p, err := c.decodeShared(token)
	if p == nil {
		return Claims{}, err
	}
	cl := *p
	cl.Resources = slices.Clone(p.Resources)
	return cl, err
}

// decodeShared is Decode returning claims that may be shared with other
// callers through the cache: they must not be modified.
func (c *Codec) decodeShared(token string) (*Claims, error) {
	var cl *Claims
	if v, ok := c.cache.Load(token); ok {
		cl = v.(*Claims)
	} else {
		decoded, err := c.decode(token)
		if err != nil {
			return nil, err
		}
		cl = &decoded
		if c.cacheMax > 0 && len(token) <= maxCachedTokenLen {
			// Full: start over (cheap, and the bound holds up to the
			// number of concurrent callers).
			if c.cacheLen.Load() >= int64(c.cacheMax) {
				c.cache.Clear()
				c.cacheLen.Store(0)
			}
			if _, loaded := c.cache.LoadOrStore(token, cl); !loaded {
				c.cacheLen.Add(1)
			}
		}
	}
	now := c.now()
	if e := cl.expiry(); !e.IsZero() && !now.Before(e) {
		return cl, ErrExpired
	}
	if !cl.nbf.IsZero() && now.Before(cl.nbf) {
		return cl, ErrNotYetValid
	}
	return cl, nil
}

func (c *Codec) decode(token string) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	payload, sig, err := c.verify(token)
	if err != nil {
		return Claims{}, err
	}
	cl, err := parsePayload(payload)
	if err != nil {
		return Claims{}, err
	}
	if cl.TokenID != "" {
		cl.revocationID = cl.TokenID
	} else {
		sum := sha256.Sum256(sig)
		cl.revocationID = "sig:" + base64.RawURLEncoding.EncodeToString(sum[:18])
	}
	return cl, nil
}

// knownHeaders are the two header segments HS256 share tokens carry:
// PyJWT 2 and Mint ({"alg":"HS256","typ":"JWT"}) and the 2022 samples
// ({"typ":"JWT","alg":"HS256"}).
var knownHeaders = [...]string{headerSegment, "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"}

// verify checks the signature of token and returns its payload and
// signature bytes. Tokens with one of the known HS256 headers skip the
// parsing of the header JSON (they can only mean HS256) and are verified
// by golang-jwt's HS256 method directly; every other token goes through
// golang-jwt's parser, restricted to HS256.
func (c *Codec) verify(token string) (payload, sig []byte, err error) {
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 < 0 || dot1 == dot2 || strings.IndexByte(token[dot1+1:dot2], '.') >= 0 {
		return nil, nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	if h := token[:dot1]; h != knownHeaders[0] && h != knownHeaders[1] {
		var raw rawPayload
		tok, err := c.parser.ParseWithClaims(token, &raw, c.keyFunc)
		if err != nil {
			switch {
			case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
				return nil, nil, ErrSignature
			default:
				return nil, nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
			}
		}
		return raw.b, tok.Signature, nil
	}
	enc := base64.RawURLEncoding.Strict()
	sig, err = enc.DecodeString(token[dot2+1:])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	payload, err = enc.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	signed := token[:dot2]
	verified := false
	for _, k := range c.keys.Keys {
		if jwt.SigningMethodHS256.Verify(signed, sig, k) == nil { // hmac.Equal: constant time
			verified = true
			break
		}
	}
	if !verified {
		return nil, nil, ErrSignature
	}
	return payload, sig, nil
}

func (c *Codec) keyFunc(*jwt.Token) (any, error) { return c.keys, nil }

// wireResource is a study (V2) or resource (V3) as found in payloads.
type wireResource struct {
	DicomUID     *string `json:"dicom_uid"`
	DicomUIDAlt  *string `json:"dicom-uid"`
	OrthancID    *string `json:"orthanc_id"`
	OrthancIDAlt *string `json:"orthanc-id"`
	URL          *string `json:"url"`
	Level        *string `json:"level"`
}

type wirePayload struct {
	ID               *string         `json:"id"`
	Type             *string         `json:"type"`
	DicomUID         *string         `json:"dicom_uid"`
	DicomUIDAlt      *string         `json:"dicom-uid"`
	OrthancID        *string         `json:"orthanc_id"`
	OrthancIDAlt     *string         `json:"orthanc-id"`
	Anonymized       *bool           `json:"anonymized"`
	Studies          *[]wireResource `json:"studies"`
	Resources        *[]wireResource `json:"resources"`
	Expiration       *string         `json:"expiration_date"`
	ExpirationAlt    *string         `json:"expiration-date"`
	ValidityDuration *int64          `json:"validity_duration"`
	ValidityDurAlt   *int64          `json:"validity-duration"`
	ServerID         *string         `json:"server_id"`
	JTI              *string         `json:"jti"`
	IAT              *json.Number    `json:"iat"`
	EXP              *json.Number    `json:"exp"`
	NBF              *json.Number    `json:"nbf"`
	Aud              json.RawMessage `json:"aud"`
}

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// pick merges a snake_case field and its hyphenated alias.
func pick(a, b *string, name string) (string, error) {
	switch {
	case a != nil && b != nil && *a != *b:
		return "", malformed(name + " given twice with different values")
	case a != nil:
		return *a, nil
	case b != nil:
		return *b, nil
	}
	return "", nil
}

func parsePayload(b []byte) (Claims, error) {
	var w wirePayload
	if len(b) == 0 || b[0] != '{' {
		return Claims{}, malformed("payload is not a JSON object")
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Claims{}, malformed("payload does not fit any known layout")
	}
	var cl Claims
	var err error
	if len(w.Aud) > 0 && !bytes.Equal(w.Aud, []byte("null")) {
		// PyJWT refuses tokens with an audience when none is expected;
		// so do we, so that both sides agree on every token.
		return Claims{}, malformed("unexpected aud claim")
	}
	if w.ID != nil {
		cl.ID = *w.ID
	}
	if w.Anonymized != nil {
		cl.Anonymized = *w.Anonymized
	}
	var list []wireResource
	switch {
	case w.Resources != nil && w.Studies != nil:
		return Claims{}, malformed("both resources and studies")
	case w.Resources != nil:
		cl.Version, list = V3, *w.Resources
	case w.Studies != nil:
		cl.Version, list = V2, *w.Studies
	default:
		cl.Version = V0
		if w.Anonymized != nil {
			cl.Version = V1
		}
		list = []wireResource{{DicomUID: w.DicomUID, DicomUIDAlt: w.DicomUIDAlt, OrthancID: w.OrthancID, OrthancIDAlt: w.OrthancIDAlt}}
	}
	if len(list) > maxResources {
		return Claims{}, malformed("too many resources")
	}
	cl.Resources = make([]Resource, len(list))
	for i, wr := range list {
		r := &cl.Resources[i]
		if r.DicomUID, err = pick(wr.DicomUID, wr.DicomUIDAlt, "dicom_uid"); err != nil {
			return Claims{}, err
		}
		if r.OrthancID, err = pick(wr.OrthancID, wr.OrthancIDAlt, "orthanc_id"); err != nil {
			return Claims{}, err
		}
		if cl.Version == V3 {
			if wr.URL != nil {
				r.URL = *wr.URL
			}
			r.Level = LevelStudy
			if wr.Level != nil {
				r.Level = Level(*wr.Level)
				if !validLevel(r.Level) {
					return Claims{}, malformed("unknown resource level")
				}
			}
		} else {
			r.Level = LevelStudy
		}
	}
	switch {
	case w.Type != nil:
		cl.Type = Type(*w.Type)
	case cl.Version == V3:
		cl.Type = typeInvalid // the V3 model's default
	default:
		return Claims{}, malformed("no type")
	}
	if !knownType(cl.Type, cl.Version) {
		return Claims{}, malformed("unknown share type for its layout")
	}
	exp, err := pick(w.Expiration, w.ExpirationAlt, "expiration_date")
	if err != nil {
		return Claims{}, err
	}
	if exp != "" {
		if cl.ExpiresAt, err = parsePyTime(exp); err != nil {
			return Claims{}, malformed("expiration_date is not an ISO-8601 date and time")
		}
		// A date that is present is never "no expiry": year 1
		// ("0001-01-01T00:00:00") parses to Go's zero time, which Claims
		// use for "never expires". Refuse what no minter writes.
		if !expiryInRange(cl.ExpiresAt) {
			return Claims{}, malformed("expiration_date is outside 1970-9999")
		}
	}
	vd := w.ValidityDuration
	if vd == nil {
		vd = w.ValidityDurAlt
	}
	if vd != nil {
		if *vd < 0 || *vd > math.MaxInt32 {
			return Claims{}, malformed("validity_duration out of range")
		}
		cl.ValidityDuration = int(*vd)
	}
	if w.ServerID != nil {
		cl.ServerID = *w.ServerID
	}
	if w.JTI != nil {
		cl.TokenID = *w.JTI
	}
	for _, f := range []struct {
		n   *json.Number
		dst *time.Time
	}{{w.IAT, &cl.IssuedAt}, {w.EXP, &cl.exp}, {w.NBF, &cl.nbf}} {
		if f.n == nil {
			continue
		}
		t, err := numericDate(*f.n)
		if err != nil {
			return Claims{}, err
		}
		*f.dst = t
	}
	return cl, nil
}

// expiryInRange reports whether t, an expiration date that is present,
// lies within what this package and the Python services write: 1970 to
// 9999 in UTC. In particular the zero time (year 1) is out of range, so a
// present date can never be mistaken for an absent one.
func expiryInRange(t time.Time) bool {
	return !t.Before(time.Unix(0, 0)) && !t.After(neverExpires)
}

// numericDate reads a JWT NumericDate (seconds since the epoch, possibly
// fractional) between 1970 and 9999: a negative value could land on Go's
// zero time, which means "absent".
func numericDate(n json.Number) (time.Time, error) {
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > float64(neverExpires.Unix()) {
		return time.Time{}, malformed("registered time claim out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// StripBearer removes a leading "Bearer " (any case) from an
// Authorization-style value, as the Python services do.
func stripBearer(v string) string {
	const p = "bearer "
	if len(v) >= len(p) && asciiEqualFold(v[:len(p)], p) {
		return v[len(p):]
	}
	return v
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
