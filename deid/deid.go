package deid

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"sort"
)

// MinKeySize is the shortest key New accepts, in bytes. Pseudonyms are
// only as secret as the key: generate it with a cryptographic random
// source (crypto/rand) and keep it like a password.
const MinKeySize = 32

// Config configures a Profile. The zero value of every option is the
// safe one: the Basic Profile alone.
type Config struct {
	// Key is the secret every pseudonym and new UID derives from. It must
	// be at least MinKeySize bytes. Whoever holds the key and an original
	// identifier can recompute its pseudonym, so it must stay at the site.
	Key []byte

	// RetainLongitudinalModifiedDates applies the Retain Longitudinal
	// Temporal Information with Modified Dates Option: dates and date
	// times are kept, shifted into the past by a whole number of days
	// (1 to 3650) derived from the key and the original Patient ID, so the
	// intervals between one patient's studies survive. Times of day are
	// kept. Off: dates are removed or emptied as the Basic Profile says.
	RetainLongitudinalModifiedDates bool

	// RetainPatientCharacteristics applies the Retain Patient
	// Characteristics Option: sex, age, size, weight, ethnic group,
	// smoking status, pregnancy and the like are kept. They narrow down
	// who the patient is.
	RetainPatientCharacteristics bool

	// RetainDeviceIdentity applies the Retain Device Identity Option:
	// station names, device serial numbers and similar are kept. They
	// reveal the site.
	RetainDeviceIdentity bool

	// CleanDescriptors applies the Clean Descriptors Option: descriptions
	// and comments the Basic Profile removes (study and series
	// descriptions, protocol names...) are kept, with every occurrence of
	// the patient's name components and IDs cut out. Other identifying
	// free text in them stays: see docs/deid.md.
	CleanDescriptors bool

	// SafePrivate applies the Retain Safe Private Option to the private
	// attributes it lists, which the caller vouches contain nothing
	// identifying. Every other private attribute is removed. Empty: all
	// private attributes are removed.
	SafePrivate []PrivateTag

	// AcceptBurnedIn de-identifies images whose Burned In Annotation
	// (0028,0301) is YES instead of refusing them with ErrBurnedIn. Their
	// pixels are copied unchanged, and so is any text burned into them
	// (names, dates, IDs): accept them only if something else checks or
	// cleans the pixels.
	AcceptBurnedIn bool

	// MaxFileSize bounds the bytes read from one input (inflated bytes for
	// a deflated one). Zero means 16 GiB.
	MaxFileSize int64
}

// PrivateTag names a private attribute independently of the block its
// creator was given: the private creator's value, the (odd) group, and
// the element's low byte. For example {Creator: "SIEMENS CSA HEADER",
// Group: 0x0029, Element: 0x08} is (0029,xx08) in the block of that
// creator.
type PrivateTag struct {
	Creator string
	Group   uint16
	Element uint8
}

// Profile de-identifies Part 10 files with a key and a set of options.
// It holds no mutable state and is safe for concurrent use.
type Profile struct {
	key        []byte
	opts       Config
	safe       map[PrivateTag]bool
	creators   map[string]bool
	maxSize    int64
	methodText string
}

// New validates cfg and returns its Profile. The key is copied.
func New(cfg Config) (*Profile, error) {
	if len(cfg.Key) < MinKeySize {
		return nil, ErrKey
	}
	p := &Profile{key: slices.Clone(cfg.Key), opts: cfg, maxSize: cfg.MaxFileSize}
	p.opts.Key = nil
	if p.maxSize <= 0 {
		p.maxSize = 16 << 30
	}
	if len(cfg.SafePrivate) > 0 {
		p.safe = make(map[PrivateTag]bool, len(cfg.SafePrivate))
		p.creators = make(map[string]bool)
		for _, t := range cfg.SafePrivate {
			if t.Group%2 == 0 {
				return nil, fmt.Errorf("deid: safe private tag %q (%04X,xx%02X) has an even group", t.Creator, t.Group, t.Element)
			}
			p.safe[t] = true
			p.creators[t.Creator] = true
		}
	}
	p.methodText = p.method()
	return p, nil
}

// Result describes one de-identified file.
type Result struct {
	// TransferSyntaxUID is the output's transfer syntax.
	TransferSyntaxUID string
	// SOPClassUID is the SOP Class UID, unchanged.
	SOPClassUID string
	// The new UIDs of the instance, its series and its study.
	SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID string
	// PatientID and PatientName are the pseudonyms written.
	PatientID, PatientName string
	// Actions says what was done to each attribute the input held, at
	// any depth, by tag (group<<16 | element). Attributes kept unchanged
	// are not listed; private attributes removed count under
	// PrivateRemoved instead.
	Actions map[uint32]Action
	// PrivateRemoved is the number of private attributes removed.
	PrivateRemoved int
	// UIDs maps every original UID replaced in the file to its new UID.
	// It is identifying: keep it at the site.
	UIDs map[string]string
}

// Removed returns the tags of the attributes removed, in ascending order.
func (r *Result) Removed() []uint32 {
	var out []uint32
	for t, a := range r.Actions {
		if a == Remove {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Action is what the profile did to an attribute.
type Action byte

// The actions of the profile (PS3.15 Table E.1-1), as applied.
const (
	Remove  Action = 'X' // removed
	Empty   Action = 'Z' // value emptied
	Dummy   Action = 'D' // replaced by a dummy value, or a pseudonym
	Clean   Action = 'C' // cleaned: dates shifted, text cut
	Replace Action = 'U' // UIDs replaced by keyed UIDs
)

// String returns the action's letter.
func (a Action) String() string { return string(rune(a)) }

// UID returns the keyed UID that replaces uid: "2.25." followed by the
// decimal value of a UUID (version 8) made of the first 128 bits of
// HMAC-SHA256(key, uid). The same uid and key always give the same
// result. An empty uid stays empty.
func (p *Profile) UID(uid string) string {
	if uid == "" {
		return ""
	}
	return uidFrom(p.mac("uid", uid))
}

// mac returns HMAC-SHA256(key, purpose NUL value).
func (p *Profile) mac(purpose, value string) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// Apply reads the Part 10 stream src, de-identifies it and writes the
// result to dst, streaming: values are held only while they change, and
// pixel data passes through unread. It returns what it did, or an error
// wrapping one of the package's sentinels (or dst's write error, or the
// ctx error). On error, dst holds an unusable partial file.
func (p *Profile) Apply(ctx context.Context, dst io.Writer, src io.Reader) (*Result, error) {
	return p.apply(ctx, dst, src)
}
