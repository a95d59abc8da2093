package share

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Links builds the URLs handed out with share tokens, in the layouts of
// orthanc-share and orthanc-auth-service. Roots are absolute http(s) URLs
// (the PUBLIC_*_ROOT variables). Unlike the Python services, a root
// without a trailing slash keeps its last path segment
// ("https://h/orthanc" gives "https://h/orthanc/stone-webviewer/...", where
// Python's urljoin gives "https://h/stone-webviewer/..."), and ids and
// tokens are percent-encoded (a no-op for DICOM UIDs, Orthanc ids and
// JWTs, so the links are otherwise byte-identical).
//
// The zero value builds no links. Links is a plain value, safe for
// concurrent use.
type Links struct {
	// OrthancRoot is PUBLIC_ORTHANC_ROOT: Osimis, Stone and VolView links.
	OrthancRoot string
	// AnonymizedOrthancRoot is PUBLIC_ANONYMIZED_ORTHANC_ROOT: Osimis
	// links of anonymized shares.
	AnonymizedOrthancRoot string
	// OHIFRoot is PUBLIC_OHIF_ROOT.
	OHIFRoot string
	// OHIFDataSource is OHIF_DATA_SOURCE: "dicom-web" (the default when
	// empty) or "dicom-json".
	OHIFDataSource string
	// LandingRoot is PUBLIC_LANDING_ROOT. When set, [Links.URL] of viewer
	// publications points at the landing page, which checks the token and
	// redirects to Links.viewerURL.
	LandingRoot string
	// MedDreamRoot is PUBLIC_MEDDREAM_ROOT.
	MedDreamRoot string
}

func (l Links) check() error {
	for _, f := range []struct{ name, v string }{
		{"OrthancRoot", l.OrthancRoot}, {"AnonymizedOrthancRoot", l.AnonymizedOrthancRoot},
		{"OHIFRoot", l.OHIFRoot}, {"LandingRoot", l.LandingRoot}, {"MedDreamRoot", l.MedDreamRoot},
	} {
		if f.v == "" {
			continue
		}
		if _, err := parseRoot(f.v); err != nil {
			return fmt.Errorf("share: Links.%s: %w", f.name, err)
		}
	}
	switch l.OHIFDataSource {
	case "", "dicom-web", "dicom-json":
	default:
		return fmt.Errorf("share: Links.OHIFDataSource %q is neither dicom-web nor dicom-json", l.OHIFDataSource)
	}
	return nil
}

func parseRoot(root string) (*url.URL, error) {
	u, err := url.Parse(root)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", root)
	}
	return u, nil
}

// URL returns the link to hand out with token: the landing page
// (LandingRoot + "?token=...") for viewer publications when LandingRoot is
// set, else the direct viewer link. Like the Python services, the ids a
// viewer needs are required even when the landing page is used. Instant
// and download links have no URL (the client builds it), and a MedDream
// instant link is built by Links.medDreamURL: those give [ErrNoURL].
func (l Links) URL(cl Claims, token string) (string, error) {
	switch cl.Type {
	case MedDreamViewerPublication:
		if l.LandingRoot == "" {
			return "", fmt.Errorf("%w: %s needs a landing root", ErrNoURL, cl.Type)
		}
		if !allIDs(cl.Resources, true) {
			return "", fmt.Errorf("%w: %s needs the dicom-uid of every study", ErrNoURL, cl.Type)
		}
		return l.landing(token)
	case OsimisViewerPublication, StoneViewerPublication, OHIFViewerPublication, VolViewViewerPublication:
		direct, err := l.viewerURL(cl, token)
		if err != nil || l.LandingRoot == "" {
			return direct, err
		}
		return l.landing(token)
	}
	return "", fmt.Errorf("%w: %s links are built by the client", ErrNoURL, cl.Type)
}

// LandingURL returns LandingRoot + "?token=...".
func (l Links) landing(token string) (string, error) {
	u, err := parseRoot(l.LandingRoot)
	if err != nil {
		return "", fmt.Errorf("%w: landing root: %v", ErrNoURL, err)
	}
	ref := &url.URL{RawQuery: "token=" + escape(token)}
	return u.ResolveReference(ref).String(), nil
}

// ViewerURL returns the direct viewer link for a viewer publication,
// skipping the landing page. It fails with [ErrNoURL] when the viewer's
// root is not configured or an id it needs is missing.
func (l Links) viewerURL(cl Claims, token string) (string, error) {
	tok := escape(token)
	var root, rel string
	switch cl.Type {
	case OsimisViewerPublication:
		if !allIDs(cl.Resources, false) {
			return "", fmt.Errorf("%w: the Osimis viewer needs the orthanc-id of every study", ErrNoURL)
		}
		root = l.OrthancRoot
		if cl.Anonymized {
			root = l.AnonymizedOrthancRoot
		}
		ids := joinIDs(cl.Resources, false)
		rel = "osimis-viewer/app/index.html?pickableStudyIds=" + ids + "&selectedStudyIds=" + ids + "&token=" + tok
	case StoneViewerPublication:
		if cl.Anonymized {
			return "", fmt.Errorf("%w: anonymized shares are not supported by Stone", ErrNoURL)
		}
		if !allIDs(cl.Resources, true) {
			return "", fmt.Errorf("%w: Stone needs the dicom-uid of every study", ErrNoURL)
		}
		root = l.OrthancRoot
		ids := joinIDs(cl.Resources, true)
		rel = "stone-webviewer/index.html?study=" + ids + "&selectedStudies=" + ids + "&token=" + tok
	case OHIFViewerPublication:
		root = l.OHIFRoot
		if l.OHIFDataSource == "dicom-json" {
			if !allIDs(cl.Resources, false) {
				return "", fmt.Errorf("%w: OHIF (dicom-json) needs the orthanc-id of every study", ErrNoURL)
			}
			if len(cl.Resources) != 1 {
				// ../studies/O1,O2/ohif-dicom-json (what Python builds)
				// is no Orthanc route: one study per link.
				return "", fmt.Errorf("%w: OHIF (dicom-json) opens one study per link", ErrNoURL)
			}
			rel = "viewer?url=../studies/" + escape(cl.Resources[0].OrthancID) + "/ohif-dicom-json&token=" + tok
		} else {
			if !allIDs(cl.Resources, true) {
				return "", fmt.Errorf("%w: OHIF (dicom-web) needs the dicom-uid of every study", ErrNoURL)
			}
			rel = "viewer?StudyInstanceUIDs=" + joinIDs(cl.Resources, true) + "&token=" + tok
		}
	case VolViewViewerPublication:
		if !allIDs(cl.Resources, false) {
			return "", fmt.Errorf("%w: VolView needs the orthanc-id of every study", ErrNoURL)
		}
		root = l.OrthancRoot
		if len(cl.Resources) == 1 {
			rel = "volview/index.html?names=[archive.zip]&urls=../studies/" + escape(cl.Resources[0].OrthancID) + "/archive&token=" + tok
		} else {
			// Python pairs one name with several urls; VolView matches
			// names and urls by position, so give one name per archive.
			names := make([]string, len(cl.Resources))
			urls := make([]string, len(cl.Resources))
			for i, r := range cl.Resources {
				names[i] = "archive-" + strconv.Itoa(i+1) + ".zip"
				urls[i] = "../studies/" + escape(r.OrthancID) + "/archive"
			}
			rel = "volview/index.html?names=[" + strings.Join(names, ",") + "]&urls=[" + strings.Join(urls, ",") + "]&token=" + tok
		}
	default:
		return "", fmt.Errorf("%w: %s has no viewer link", ErrNoURL, cl.Type)
	}
	if root == "" {
		return "", fmt.Errorf("%w: %s links are disabled (no root URL configured)", ErrNoURL, cl.Type)
	}
	return joinRoot(root, rel)
}

// MedDreamURL returns the MedDream viewer link for a token obtained from
// the MedDream token service: MedDreamRoot + "?study=UID1,UID2&token=..."
// (orthanc-auth-service), or + "?token=..." when legacy is set
// (orthanc-share).
func (l Links) medDreamURL(studyUIDs []string, meddreamToken string, legacy bool) (string, error) {
	if l.MedDreamRoot == "" {
		return "", fmt.Errorf("%w: MedDream links are disabled (no root URL configured)", ErrNoURL)
	}
	u, err := parseRoot(l.MedDreamRoot)
	if err != nil {
		return "", fmt.Errorf("%w: MedDream root: %v", ErrNoURL, err)
	}
	q := "token=" + escape(meddreamToken)
	if !legacy {
		ids := make([]string, len(studyUIDs))
		for i, s := range studyUIDs {
			ids[i] = escape(s)
		}
		q = "study=" + strings.Join(ids, ",") + "&" + q
	}
	return u.ResolveReference(&url.URL{RawQuery: q}).String(), nil
}

// joinRoot resolves the relative link rel against root taken as a
// directory (a missing trailing slash is added first).
func joinRoot(root, rel string) (string, error) {
	u, err := parseRoot(root)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoURL, err)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	ref, err := url.Parse(rel)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoURL, err)
	}
	return u.ResolveReference(ref).String(), nil
}

// allIDs reports whether every resource has a dicom-uid (dicom) or an
// orthanc-id (!dicom); false for an empty list.
func allIDs(rs []Resource, dicom bool) bool {
	if len(rs) == 0 {
		return false
	}
	for _, r := range rs {
		if (dicom && r.DicomUID == "") || (!dicom && r.OrthancID == "") {
			return false
		}
	}
	return true
}

func joinIDs(rs []Resource, dicom bool) string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		if dicom {
			ids[i] = escape(r.DicomUID)
		} else {
			ids[i] = escape(r.OrthancID)
		}
	}
	return strings.Join(ids, ",")
}

// escape percent-encodes everything but RFC 3986 unreserved characters, so
// that an id can never add a parameter or a separator to a link.
func escape(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		}
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
