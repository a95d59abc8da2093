package share

import (
	"time"
)

// Version is a payload layout of share tokens. The Python services changed
// the layout three times; [Codec.Decode] reads all four and [Codec.Mint]
// writes any of them.
type Version int

const (
	// Latest mints the newest layout ([V3]); it is the zero value.
	Latest Version = iota
	// V0 is orthanc-share's first layout (July 2022 to 22.9):
	// id, dicom_uid, orthanc_id, type, expiration_date.
	V0
	// V1 adds anonymized (orthanc-share 22.9.0 to 22.10.5).
	V1
	// V2 replaces the single study by a studies list (22.10.6 to 23.1.0).
	V2
	// V3 is orthanc-auth-service's layout (23.3.0 on): id, resources,
	// type, expiration_date, validity_duration.
	V3
)

func (v Version) String() string {
	switch v {
	case Latest:
		return "latest"
	case V0:
		return "v0"
	case V1:
		return "v1"
	case V2:
		return "v2"
	case V3:
		return "v3"
	}
	return "unknown"
}

func (v Version) resolve() Version {
	if v == Latest {
		return V3
	}
	return v
}

// Type is a share type, the token's "type" claim.
type Type string

// Share types known to orthanc-share and orthanc-auth-service.
const (
	OsimisViewerPublication   Type = "osimis-viewer-publication"
	StoneViewerPublication    Type = "stone-viewer-publication"
	OHIFViewerPublication     Type = "ohif-viewer-publication"    // V3 only
	VolViewViewerPublication  Type = "volview-viewer-publication" // V3 only
	MedDreamViewerPublication Type = "meddream-viewer-publication"
	MedDreamInstantLink       Type = "meddream-instant-link"
	ViewerInstantLink         Type = "viewer-instant-link"   // V3 only
	DownloadInstantLink       Type = "download-instant-link" // V3 only
	// typeInvalid is orthanc-auth-service's placeholder type; it never
	// grants anything here.
	typeInvalid Type = "invalid"
)

// knownType reports whether t exists in layout v.
func knownType(t Type, v Version) bool {
	switch t {
	case OsimisViewerPublication, StoneViewerPublication, MedDreamViewerPublication, MedDreamInstantLink:
		return true
	case OHIFViewerPublication, VolViewViewerPublication, ViewerInstantLink, DownloadInstantLink, typeInvalid:
		return v == V3
	}
	return false
}

// defaultAllowedTypes are the token types that [Service] accepts for
// Orthanc resource access when [Config.AllowedTypes] is nil: viewer
// publications and instant links that the viewers use against Orthanc.
// MedDream tokens are excluded (MedDream reads Orthanc on its own account;
// the share JWT only feeds the landing page), and so is "invalid".
var defaultAllowedTypes = []Type{
	OsimisViewerPublication, StoneViewerPublication, OHIFViewerPublication,
	VolViewViewerPublication, ViewerInstantLink, DownloadInstantLink,
}

// Level is a level of the DICOM hierarchy as the authorization plugin
// names it.
type Level string

// Levels sent by the Orthanc authorization plugin.
const (
	LevelPatient  Level = "patient"
	LevelStudy    Level = "study"
	LevelSeries   Level = "series"
	LevelInstance Level = "instance"
	LevelSystem   Level = "system"
)

func validLevel(l Level) bool {
	switch l {
	case LevelPatient, LevelStudy, LevelSeries, LevelInstance, LevelSystem:
		return true
	}
	return false
}

// Resource is one shared resource. Empty strings stand for the JSON null
// of the Python services.
type Resource struct {
	DicomUID  string // StudyInstanceUID for a study
	OrthancID string // Orthanc's identifier of the resource
	URL       string // V3 only, informational
	Level     Level  // V3 only; V0 to V2 share studies. Empty means study.
}

func (r Resource) level() Level {
	if r.Level == "" {
		return LevelStudy
	}
	return r.Level
}

// Claims is the content of a share token.
//
// The first group of fields is the payload of the Python services; empty
// strings, false and zero times are written as JSON null (or omitted where
// the layout has no such field). The second group are registered claims
// that this package adds (jti, iat, exp) and a server binding (server_id)
// that the Python services ignore, so they still verify our tokens.
type Claims struct {
	// Version is the payload layout. Decode sets it; Mint writes the layout
	// it names ([Latest] = [V3]).
	Version Version
	// ID is the free-text "id" of the share (not unique, never checked).
	ID   string
	Type Type
	// Resources are the shared resources. V0 and V1 hold exactly one
	// study; V2 holds studies (no URL or Level).
	Resources []Resource
	// Anonymized marks shares of the anonymized Orthanc (V1, V2; ignored
	// by the V3 services). Such tokens are only valid on
	// [Config.AnonymizedServerID].
	Anonymized bool
	// ExpiresAt is expiration_date; zero means the share never expires.
	ExpiresAt time.Time
	// ValidityDuration is V3's validity_duration in seconds (0 = null).
	// When minting with no ExpiresAt, ExpiresAt becomes now + this.
	ValidityDuration int

	// TokenID is the jti claim, the handle for revocation. Mint sets a
	// random one.
	TokenID string
	// IssuedAt is the iat claim. Mint sets it.
	IssuedAt time.Time
	// ServerID binds the token to one Orthanc server (the
	// WebServiceIdentifier of its authorization plugin). Empty means not
	// bound.
	ServerID string

	// exp is the exp claim (decoded; Mint writes ExpiresAt rounded up).
	exp time.Time
	// nbf is the nbf claim (decoded, never minted).
	nbf time.Time
	// revocationID is TokenID, or for tokens without jti a digest of the
	// signature (set by Decode and Mint).
	revocationID string
}

// RevocationID is the key under which the token is revoked: its jti, or,
// for tokens minted without one (by the Python services), a digest of its
// signature prefixed with "sig:". Only decoded claims have one.
func (c *Claims) RevocationID() string { return c.revocationID }

// expiry is when the token stops being valid: the earlier of ExpiresAt
// and the exp claim, or the zero time if it never expires.
func (c *Claims) expiry() time.Time {
	e := c.ExpiresAt
	if !c.exp.IsZero() && (e.IsZero() || c.exp.Before(e)) {
		e = c.exp
	}
	return e
}
