// Command reportprovider is a small KHEOPS report provider: launched from a
// KHEOPS album, it shows who launched it and the study, lists the study's
// series with QIDO-RS, and stores a one-page PDF report back into the study
// as a DICOM Encapsulated PDF with STOW-RS.
//
// Against a real KHEOPS (see README.md):
//
//	go run ./examples/reportprovider -public-url https://rp.example.org -issuer https://demo.kheops.online -key rp-key.pem
//
// Without one, -demo starts a fake KHEOPS in the same process and prints a
// launch URL to open in a browser:
//
//	go run ./examples/reportprovider -demo
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/dicombridge/dicombridge/dicomweb"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// config is what the app needs to run.
type config struct {
	PublicURL    string // where browsers and KHEOPS reach this app, no trailing slash
	Issuer       string // the KHEOPS root URL to accept launches from
	Key          *reportprovider.Key
	AllowHTTP    bool // tests and local demos only
	AllowPrivate bool // an on-premises KHEOPS
	HTTPClient   *http.Client
	Logger       *slog.Logger
}

// app keeps one server-side session per launch, keyed by a random cookie.
type app struct {
	cfg      config
	provider *reportprovider.Provider
	secure   bool

	mu       sync.Mutex // guards sessions
	sessions map[string]*session
}

type session struct {
	rp     *reportprovider.Session
	csrf   string
	stored []string // SOP instance UIDs stored in this session
}

// DICOM JSON keys (group and element in hex) of the attributes this app reads.
const (
	tagAccessionNumber                = "00080050"
	tagModality                       = "00080060"
	tagNumberOfSeriesRelatedInstances = "00201209"
	tagPatientID                      = "00100020"
	tagPatientName                    = "00100010"
	tagSeriesDescription              = "0008103E"
	tagSeriesInstanceUID              = "0020000E"
	tagStudyDate                      = "00080020"
	tagStudyDescription               = "00081030"
	tagStudyID                        = "00200010"
	tagStudyInstanceUID               = "0020000D"
)

const (
	configPath = "/.well-known/kheops-report-configuration"
	cookieName = "rp_session"
)

func newApp(cfg config) (*app, http.Handler, error) {
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	p, err := reportprovider.New(reportprovider.Options{
		ConfigurationURL: cfg.PublicURL + configPath,
		Configuration: reportprovider.Configuration{
			RedirectURI:         cfg.PublicURL + "/launch",
			ResponseType:        reportprovider.ResponseTypeCode,
			JWKSURI:             cfg.PublicURL + "/jwks",
			ClientName:          "dicombridge example report provider",
			SupportedModalities: []string{"CT", "MR", "CR", "DX", "US", "PT", "NM", "OT"},
		},
		Keys:       []*reportprovider.Key{cfg.Key},
		Issuers:    []reportprovider.Issuer{{URL: cfg.Issuer, AllowHTTP: cfg.AllowHTTP, AllowPrivateNetwork: cfg.AllowPrivate}},
		HTTPClient: cfg.HTTPClient,
		Logger:     cfg.Logger,
	})
	if err != nil {
		return nil, nil, err
	}
	a := &app{cfg: cfg, provider: p, secure: strings.HasPrefix(cfg.PublicURL, "https://"), sessions: make(map[string]*session)}
	mux := http.NewServeMux()
	mux.Handle("GET "+configPath, p.ConfigurationHandler())
	mux.Handle("GET /jwks", p.JWKSHandler())
	mux.Handle("/launch", p.LaunchHandler(a.started, a.refused))
	mux.HandleFunc("GET /report", a.showReport)
	mux.HandleFunc("POST /report/store", a.storeReport)
	return a, securityHeaders(mux), nil
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// started runs after a checked launch: always a fresh session (never join
// one the browser already has), then a redirect to a URL without the code.
func (a *app) started(w http.ResponseWriter, r *http.Request, s *reportprovider.Session) {
	id := randomToken()
	now := time.Now()
	a.mu.Lock()
	for k, old := range a.sessions { // forget abandoned sessions
		if old.rp.Expired(now) {
			delete(a.sessions, k)
		}
	}
	a.sessions[id] = &session{rp: s, csrf: randomToken()}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: a.secure,
		SameSite: http.SameSiteLaxMode, Expires: s.Expiry})
	http.Redirect(w, r, "/report", http.StatusSeeOther)
}

func (a *app) refused(w http.ResponseWriter, _ *http.Request, err error) {
	if a.cfg.Logger != nil {
		a.cfg.Logger.Info("launch refused", "error", err.Error())
	}
	code := reportprovider.ErrorStatus(err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "This launch was refused (%s). Open the report provider again from KHEOPS.\n", http.StatusText(code))
}

func (a *app) session(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s == nil || s.rp.Expired(time.Now()) {
		delete(a.sessions, c.Value)
		return nil
	}
	return s
}

func (a *app) dicomweb(s *session) *dicomweb.Client {
	return s.rp.DICOMweb(a.cfg.HTTPClient)
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Report provider</title></head>
<body>
<h1>Report provider</h1>
<p id="user">Launched by <b>{{.User.Name}}</b> &lt;{{.User.Email}}&gt;</p>
{{range .Studies}}<h2 class="study">Study {{.UID}}</h2>
<p>Patient {{.Patient}} ({{.PatientID}}), {{.Description}}</p>
<table><tr><th>Series</th><th>Modality</th><th>Description</th><th>Instances</th></tr>
{{range .Series}}<tr class="series"><td>{{.UID}}</td><td>{{.Modality}}</td><td>{{.Description}}</td><td>{{.Instances}}</td></tr>
{{end}}</table>
{{end}}
{{if .CanWrite}}<form method="post" action="/report/store"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit">Store a PDF report in the study</button></form>{{else}}<p>Your token is read-only.</p>{{end}}
{{range .Stored}}<p class="stored">Stored report {{.}}</p>{{end}}
<p><a href="{{.ReturnURI}}">Back to KHEOPS</a></p>
</body></html>
`))

type seriesView struct{ UID, Modality, Description, Instances string }

type studyView struct {
	UID, Patient, PatientID, Description string
	Series                               []seriesView
}

func (a *app) showReport(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	if s == nil {
		http.Error(w, "No session: open the report provider from KHEOPS.", http.StatusUnauthorized)
		return
	}
	ctx := r.Context()
	dw := a.dicomweb(s)
	var studies []studyView
	for _, uid := range s.rp.StudyUIDs {
		v := studyView{UID: uid}
		found, err := dw.SearchStudies(ctx, url.Values{"StudyInstanceUID": {uid}})
		if err != nil {
			http.Error(w, "KHEOPS did not answer the study search.", http.StatusBadGateway)
			return
		}
		if len(found) == 1 {
			v.Patient = found[0].String(tagPatientName)
			v.PatientID = found[0].String(tagPatientID)
			v.Description = found[0].String(tagStudyDescription)
		}
		series, err := dw.SearchSeries(ctx, uid, nil)
		if err != nil {
			http.Error(w, "KHEOPS did not answer the series search.", http.StatusBadGateway)
			return
		}
		for _, se := range series {
			v.Series = append(v.Series, seriesView{UID: se.String(tagSeriesInstanceUID), Modality: se.String(tagModality),
				Description: se.String(tagSeriesDescription), Instances: se.String(tagNumberOfSeriesRelatedInstances)})
		}
		sort.Slice(v.Series, func(i, j int) bool { return v.Series[i].UID < v.Series[j].UID })
		studies = append(studies, v)
	}
	a.mu.Lock()
	stored := append([]string(nil), s.stored...)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = page.Execute(w, map[string]any{
		"User": s.rp.User, "Studies": studies, "CanWrite": s.rp.CanWrite(), "CSRF": s.csrf, "Stored": stored,
		"ReturnURI": template.URL(s.rp.ReturnURI), // issuer origin only: see reportprovider's return_uri rules
	})
}

// storeReport needs the session cookie, the session's anti-CSRF token and a
// same-origin request: a launch can be forced on a user, a write cannot.
func (a *app) storeReport(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	if s == nil {
		http.Error(w, "No session.", http.StatusUnauthorized)
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		http.Error(w, "Cross-site request refused.", http.StatusForbidden)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != a.cfg.PublicURL {
		http.Error(w, "Cross-origin request refused.", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
		http.Error(w, "Missing or wrong anti-CSRF token.", http.StatusForbidden)
		return
	}
	if !s.rp.CanWrite() {
		http.Error(w, "The token is read-only.", http.StatusForbidden)
		return
	}
	ctx := r.Context()
	studyUID := s.rp.StudyUIDs[0]
	dw := a.dicomweb(s)
	// KHEOPS refuses an instance whose study attributes differ from those
	// it stores (see docs/kheops.md, "DICOMweb access"): take them from
	// the study's own instances (WADO-RS metadata), not from a QIDO-RS
	// summary, which may leave some out.
	meta, err := dw.Metadata(ctx, studyUID, "")
	if err != nil || len(meta) == 0 {
		http.Error(w, "The study is not visible any more.", http.StatusBadGateway)
		return
	}
	series, err := dw.SearchSeries(ctx, studyUID, nil)
	if err != nil {
		http.Error(w, "KHEOPS did not answer the series search.", http.StatusBadGateway)
		return
	}
	obj, sop, err := encapsulatedPDF(meta[0], s.rp.User, len(series), time.Now())
	if err != nil {
		http.Error(w, "Could not build the report.", http.StatusInternalServerError)
		return
	}
	if _, err := dw.Store(ctx, studyUID, bytes.NewReader(obj)); err != nil {
		if a.cfg.Logger != nil {
			a.cfg.Logger.Info("STOW-RS failed", "error", err.Error())
		}
		http.Error(w, "KHEOPS refused the report.", http.StatusBadGateway)
		return
	}
	a.mu.Lock()
	s.stored = append(s.stored, sop)
	a.mu.Unlock()
	http.Redirect(w, r, "/report", http.StatusSeeOther)
}

// newUID returns a UUID-derived DICOM UID (2.25.<128-bit decimal>).
func newUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40 // UUID version 4
	b[8] = b[8]&0x3f | 0x80
	return "2.25." + new(big.Int).SetBytes(b).String()
}

// personName returns a DICOM JSON person name with all its component
// groups (alphabetic=ideographic=phonetic), as it is stored: KHEOPS
// compares names with only '^' and '=' removed, so a report carrying the
// alphabetic group alone would be refused for a name that has others.
func personName(d dicomweb.Dataset, tag string) string {
	a, ok := d[tag]
	if !ok || len(a.Value) == 0 {
		return ""
	}
	var pn map[string]string
	if json.Unmarshal(a.Value[0], &pn) != nil {
		return d.String(tag)
	}
	groups := []string{pn["Alphabetic"], pn["Ideographic"], pn["Phonetic"]}
	for len(groups) > 0 && groups[len(groups)-1] == "" {
		groups = groups[:len(groups)-1]
	}
	return strings.Join(groups, "=")
}

// encapsulatedPDF builds a DICOM Encapsulated PDF (SOP class
// 1.2.840.10008.5.1.4.1.1.104.1) in a new series of the study, with the
// patient and study attributes KHEOPS checks on upload copied from one of
// the study's instances (its WADO-RS metadata): StudyID, StudyDate,
// StudyTime, StudyDescription, TimezoneOffsetFromUTC, AccessionNumber,
// ReferringPhysicianName, PatientName, PatientID, PatientBirthDate and
// PatientSex.
func encapsulatedPDF(study dicomweb.Dataset, author reportprovider.UserInfo, nSeries int, now time.Time) ([]byte, string, error) {
	const sopClass = "1.2.840.10008.5.1.4.1.1.104.1"
	sop, seriesUID := newUID(), newUID()
	studyUID := study.String(tagStudyInstanceUID)
	pdf := onePagePDF([]string{
		"Report",
		"Study " + studyUID,
		"Patient " + study.String(tagPatientName) + " (" + study.String(tagPatientID) + ")",
		fmt.Sprintf("%d series reviewed", nSeries),
		"Author " + author.Name,
		"Created " + now.UTC().Format(time.RFC3339),
	})
	if len(pdf)%2 == 1 {
		pdf = append(pdf, 0) // OB values have even length
	}
	date, tm := now.UTC().Format("20060102"), now.UTC().Format("150405")
	type el struct {
		t tag.Tag
		v any
	}
	els := []el{
		{tag.FileMetaInformationVersion, []byte{0, 1}},
		{tag.MediaStorageSOPClassUID, []string{sopClass}},
		{tag.MediaStorageSOPInstanceUID, []string{sop}},
		{tag.TransferSyntaxUID, []string{"1.2.840.10008.1.2.1"}},
		{tag.ImplementationClassUID, []string{"2.25.314159265358979323846264338327950288"}},
		{tag.SpecificCharacterSet, []string{"ISO_IR 192"}},
		{tag.SOPClassUID, []string{sopClass}},
		{tag.SOPInstanceUID, []string{sop}},
		{tag.StudyDate, []string{study.String(tagStudyDate)}},
		{tag.ContentDate, []string{date}},
		{tag.AcquisitionDateTime, []string{date + tm}},
		{tag.StudyTime, []string{study.String("00080030")}},
		{tag.ContentTime, []string{tm}},
		{tag.AccessionNumber, []string{study.String(tagAccessionNumber)}},
		{tag.Modality, []string{"DOC"}},
		{tag.ConversionType, []string{"WSD"}},
		{tag.Manufacturer, []string{"dicombridge"}},
		{tag.ReferringPhysicianName, []string{personName(study, "00080090")}},
		{tag.TimezoneOffsetFromUTC, []string{study.String("00080201")}},
		{tag.StudyDescription, []string{study.String(tagStudyDescription)}},
		{tag.SeriesDescription, []string{"Report"}},
		{tag.PatientName, []string{personName(study, tagPatientName)}},
		{tag.PatientID, []string{study.String(tagPatientID)}},
		{tag.PatientBirthDate, []string{study.String("00100030")}},
		{tag.PatientSex, []string{study.String("00100040")}},
		{tag.StudyInstanceUID, []string{studyUID}},
		{tag.SeriesInstanceUID, []string{seriesUID}},
		{tag.StudyID, []string{study.String(tagStudyID)}},
		{tag.SeriesNumber, []string{"999"}},
		{tag.InstanceNumber, []string{"1"}},
		{tag.BurnedInAnnotation, []string{"YES"}},
		{tag.ConceptNameCodeSequence, [][]*dicom.Element{}},
		{tag.DocumentTitle, []string{"Report"}},
		{tag.EncapsulatedDocument, pdf},
		{tag.MIMETypeOfEncapsulatedDocument, []string{"application/pdf"}},
	}
	sort.Slice(els, func(i, j int) bool {
		if els[i].t.Group != els[j].t.Group {
			return els[i].t.Group < els[j].t.Group
		}
		return els[i].t.Element < els[j].t.Element
	})
	ds := dicom.Dataset{}
	for _, e := range els {
		de, err := dicom.NewElement(e.t, e.v)
		if err != nil {
			return nil, "", fmt.Errorf("element %v: %w", e.t, err)
		}
		ds.Elements = append(ds.Elements, de)
	}
	var out bytes.Buffer
	if err := dicom.Write(&out, ds); err != nil {
		return nil, "", err
	}
	return out.Bytes(), sop, nil
}

// onePagePDF writes a minimal single-page PDF 1.4 with one line per entry
// (Helvetica; characters outside printable ASCII become '?').
func onePagePDF(lines []string) []byte {
	var content bytes.Buffer
	content.WriteString("BT /F1 14 Tf 72 770 Td 18 TL\n")
	for _, l := range lines {
		esc := strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e {
				return '?'
			}
			return r
		}, l)
		esc = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(esc)
		content.WriteString("(" + esc + ") Tj T*\n")
	}
	content.WriteString("ET\n")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// loadKey returns the signing key. With no path it makes a new key that
// lives only in memory: nothing is written, and KHEOPS, which fetches the
// JWKS on every code exchange, just sees the new key after a restart. With
// a path it reads the key there, creating the file (mode 0600, PKCS #8) if
// it does not exist.
func loadKey(path, kid string) (*reportprovider.Key, error) {
	if path == "" {
		return reportprovider.GenerateKey(kid)
	}
	data, err := os.ReadFile(path)
	if err == nil {
		return reportprovider.ParseKeyPEM(kid, data)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := reportprovider.GenerateKey(kid)
	if err != nil {
		return nil, err
	}
	pemBytes, err := k.MarshalPEM()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(pemBytes); err != nil {
		_ = f.Close()
		return nil, err
	}
	return k, f.Close()
}

// shutdownTimeout is how long in-flight requests may take to finish once a
// SIGINT or SIGTERM arrives.
const shutdownTimeout = 10 * time.Second

// serve runs srv on ln until ctx ends, then shuts it down gracefully: no
// new connections, in-flight requests get up to timeout to finish. It
// returns nil after a clean shutdown.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func main() { cli.Main(run) }

// run is the program; it serves until ctx ends, then shuts down
// gracefully (see serve).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("reportprovider", stdout, stderr)
	cmd.Synopsis = []string{
		"reportprovider -issuer KHEOPS_URL [-public-url URL] [-addr ADDR] [-key FILE] [-kid ID]",
		"reportprovider -demo",
	}
	cmd.About = "A KHEOPS report provider: launched from an album, it lists the study's series and stores a PDF report back into the study."
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "clean shutdown (Ctrl-C, SIGTERM), or -h"},
		{Name: "1", Help: "the server failed (address in use, unreadable key, ...)"},
		{Name: "2", Help: "bad usage"},
	}
	fs := cmd.Flags
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address`")
	publicURL := fs.String("public-url", "", "`URL` at which KHEOPS and browsers reach this app (default http://<addr>)")
	issuer := fs.String("issuer", "", "KHEOPS root `URL` to accept launches from, e.g. https://demo.kheops.online")
	keyPath := fs.String("key", "", "RSA private key `file` (PEM), created (mode 0600) if missing; default: a new key kept in memory only")
	kid := fs.String("kid", "rp-1", "key `ID` published in the JWKS")
	allowHTTP := fs.Bool("allow-http", false, "accept an http:// KHEOPS (development only)")
	allowPrivate := fs.Bool("allow-private", false, "accept a KHEOPS on a private network address")
	demo := fs.Bool("demo", false, "start a fake KHEOPS in this process and print a launch URL")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	switch {
	case fs.NArg() > 0:
		return cmd.Fail(cli.Usagef("unexpected argument %q", fs.Arg(0)))
	case *issuer == "" && !*demo:
		return cmd.Fail(cli.Usagef("-issuer is required (or use -demo)"))
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return cmd.Fail(err)
	}
	defer ln.Close()
	if *publicURL == "" {
		*publicURL = "http://" + ln.Addr().String()
	}
	key, err := loadKey(*keyPath, *kid)
	if err != nil {
		return cmd.Fail(fmt.Errorf("-key %s: %w", *keyPath, err))
	}
	var fake *kheopstest.Server
	if *demo {
		fake = kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
		defer fake.Close()
		*issuer, *allowHTTP, *allowPrivate = fake.URL, true, true
	}
	_, h, err := newApp(config{PublicURL: *publicURL, Issuer: *issuer, Key: key, AllowHTTP: *allowHTTP, AllowPrivate: *allowPrivate, Logger: logger})
	if err != nil {
		return cmd.Fail(&cli.UsageError{Msg: err.Error(), Hint: "check -issuer and -public-url"})
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, srv, ln, shutdownTimeout) }()
	fmt.Fprintf(stdout, "configuration URL to register in KHEOPS: %s%s\n", strings.TrimRight(*publicURL, "/"), configPath)
	if fake != nil {
		launch, err := demoLaunch(ctx, fake, *publicURL+configPath)
		if err != nil {
			return cmd.Fail(err)
		}
		fmt.Fprintf(stdout, "fake KHEOPS at %s\nopen this launch URL in a browser (valid 10 minutes):\n%s\n", fake.URL, launch)
	}
	if err := <-done; err != nil {
		return cmd.Fail(err)
	}
	logger.Info("shut down")
	return cli.ExitOK
}

// demoLaunch seeds the fake KHEOPS with a user, an album and a small study,
// registers the provider and launches it.
func demoLaunch(ctx context.Context, fake *kheopstest.Server, confURL string) (string, error) {
	user := fake.AddUser(kheopstest.User{Sub: "demo-user", Name: "Demo User", Email: "demo@example.org"})
	album := fake.AddAlbum("", nil)
	if err := fake.AddMember(album, "demo-user", true); err != nil {
		return "", err
	}
	study := newUID()
	for i, m := range []string{"CT", "SR"} {
		se := newUID()
		if _, err := fake.AddInstance(album, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: study, SeriesUID: se, SOPInstanceUID: newUID(),
			Modality: m, PatientName: "Demo^Patient", PatientID: "DEMO-1", StudyDescription: "Demo study", SeriesDescription: m + " series", SeriesNumber: i + 1})); err != nil {
			return "", err
		}
	}
	clientID, err := fake.Register(ctx, user, album, "Example report provider", confURL)
	if err != nil {
		return "", err
	}
	return fake.Launch(ctx, user, clientID, study)
}
