// Command kheopsalbum walks through the KHEOPS REST client: it creates an
// album, registers a webhook served by this program, uploads a generated
// study into the album over DICOMweb (STOW-RS), shares the album with
// another user, creates a read-only capability link, and prints the signed
// webhook deliveries KHEOPS sends back.
//
// Against a real KHEOPS (see README.md), with the user's access token in
// KHEOPS_TOKEN and a public URL at which KHEOPS reaches this program:
//
//	KHEOPS_URL=https://demo.kheops.online KHEOPS_TOKEN=... go run ./examples/kheopsalbum -share-with bob@example.org -public-url https://hooks.example.org
//
// Without one, -demo starts a fake KHEOPS in the same process:
//
//	go run ./examples/kheopsalbum -demo
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/dicomweb"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/kheops"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

func main() { cli.Main(run) }

// options is what one walk-through needs.
type options struct {
	client    *kheops.Client
	root      string       // the KHEOPS root URL
	shareWith string       // e-mail or sub of the user to share with
	hookURL   string       // where KHEOPS posts webhook deliveries
	ln        net.Listener // serves the webhook
	wait      time.Duration
	hc        *http.Client // for the capability link check
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("kheopsalbum", stdout, stderr)
	cmd.Synopsis = []string{
		"kheopsalbum -share-with USER [-url KHEOPS_URL] [-addr ADDR] [-public-url URL] [-wait DURATION]",
		"kheopsalbum -demo",
	}
	cmd.About = "Creates a KHEOPS album, uploads a generated study into it over DICOMweb, shares it, creates a read-only capability link, and prints the signed webhook deliveries it receives."
	cmd.Env = []cli.Var{
		{Name: "KHEOPS_URL", Help: "the KHEOPS root URL, e.g. https://demo.kheops.online (or -url)"},
		{Name: "KHEOPS_TOKEN", Help: "your KHEOPS access token (from KHEOPS's OpenID provider; a capability token cannot create the link)"},
	}
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "done, or -h"},
		{Name: "1", Help: "KHEOPS refused a step, or no webhook delivery came within -wait"},
		{Name: "2", Help: "bad usage or missing configuration"},
	}
	cmd.Kinds = []cli.Kind{{
		Match: cli.As[*kheops.Error](),
		Cause: func(err error) string {
			var ke *kheops.Error
			errors.As(err, &ke)
			return ke.Error()
		},
		Hint: "check KHEOPS_TOKEN and your rights in the album",
	}}
	fs := cmd.Flags
	root := fs.String("url", os.Getenv("KHEOPS_URL"), "KHEOPS root `URL` (default $KHEOPS_URL)")
	shareWith := fs.String("share-with", "", "e-mail or OIDC sub of the `user` to share the album with")
	addr := fs.String("addr", "127.0.0.1:0", "listen `address` for the webhook")
	publicURL := fs.String("public-url", "", "`URL` at which KHEOPS reaches this program (default http://<addr>)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the webhook deliveries (KHEOPS batches new_series for 30 s)")
	demo := fs.Bool("demo", false, "run against a fake KHEOPS started in this process")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	token := kheops.Token(os.Getenv("KHEOPS_TOKEN"))
	switch {
	case fs.NArg() > 0:
		return cmd.Fail(cli.Usagef("unexpected argument %q", fs.Arg(0)))
	case !*demo && *root == "":
		return cmd.Fail(cli.Usagef("-url or KHEOPS_URL is required (or use -demo)"))
	case !*demo && token == "":
		return cmd.Fail(cli.Usagef("KHEOPS_TOKEN is required (or use -demo)"))
	case !*demo && *shareWith == "":
		return cmd.Fail(cli.Usagef("-share-with is required (or use -demo)"))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return cmd.Fail(err)
	}
	defer ln.Close()
	if *publicURL == "" {
		*publicURL = "http://" + ln.Addr().String()
	}
	o := options{root: *root, shareWith: *shareWith, hookURL: strings.TrimRight(*publicURL, "/") + "/hooks/kheops", ln: ln, wait: *wait}
	if *demo {
		fake := kheopstest.NewServer(kheopstest.WithBasePath("/kheops"), kheopstest.WithNewSeriesDelay(200*time.Millisecond), kheopstest.WithWebhookRetryUnit(100*time.Millisecond))
		defer fake.Close()
		token = kheops.Token(fake.AddUser(kheopstest.User{Sub: "alice", Name: "Alice Demo", Email: "alice@example.org"}))
		fake.AddUser(kheopstest.User{Sub: "bob", Name: "Bob Demo", Email: "bob@example.org"})
		o.root, o.shareWith, o.hc, o.wait = fake.URL, "bob@example.org", fake.Client(), min(*wait, 20*time.Second)
		fmt.Fprintf(stdout, "fake KHEOPS at %s\n", fake.URL)
	}
	o.client, err = kheops.New(kheops.Config{URL: o.root, Token: kheops.StaticToken(token), HTTPClient: o.hc})
	if err != nil {
		return cmd.Fail(&cli.UsageError{Msg: err.Error(), Hint: "check -url"})
	}
	if err := walk(ctx, o, stdout); err != nil {
		return cmd.Fail(err)
	}
	return cli.ExitOK
}

// deliveries prints each webhook delivery and signals the events seen.
type deliveries struct {
	out  io.Writer
	mu   sync.Mutex // guards seen and out
	seen map[string]bool
	all  chan struct{} // closed when new_series and new_user arrived
}

func (d *deliveries) OnEvent(_ context.Context, ev *kheops.WebhookEvent) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	what := ""
	switch {
	case ev.NewUser != nil:
		what = "user " + ev.NewUser.Email
	case ev.UpdatedStudy != nil:
		what = fmt.Sprintf("study %s, %d series", ev.UpdatedStudy.StudyUID, len(ev.UpdatedStudy.Series))
	}
	fmt.Fprintf(d.out, "webhook delivery (signature verified): %s delivery=%s attempt=%d album=%s %s\n", ev.Event, ev.Delivery, ev.Attempt, ev.AlbumID, what)
	d.seen[ev.Event] = true
	if d.seen[kheops.EventNewSeries] && d.seen[kheops.EventNewUser] && d.all != nil {
		close(d.all)
		d.all = nil
	}
	return nil
}

func walk(ctx context.Context, o options, stdout io.Writer) error {
	// 1. The webhook receiver, with a fresh secret.
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	d := &deliveries{out: stdout, seen: map[string]bool{}, all: make(chan struct{})}
	done := d.all
	srv := &http.Server{Handler: &kheops.WebhookHandler{Secret: hex.EncodeToString(secret), OnEvent: d.OnEvent},
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(o.ln) }()
	defer srv.Close()

	// 2. The album.
	c := o.client
	album, err := c.CreateAlbum(ctx, kheops.AlbumSettings{Name: "dicombridge example " + time.Now().UTC().Format("2006-01-02 15:04"),
		Description: ptr("made by examples/kheopsalbum")})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "album created: %s (%s)\n", album.ID, album.Name)

	// 3. The webhook, signed with the secret.
	s := kheops.Token(hex.EncodeToString(secret))
	wh, err := c.CreateWebhook(ctx, album.ID, kheops.WebhookSettings{URL: o.hookURL, Name: "kheopsalbum", Secret: &s,
		Events: []string{kheops.EventNewSeries, kheops.EventNewUser}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "webhook registered: %s -> %s (events %s)\n", wh.ID, wh.URL, strings.Join(wh.Events, ", "))

	// 4. A generated study, uploaded into the album with STOW-RS.
	n, study, err := upload(ctx, c.DICOMweb(), album.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "uploaded %d instance(s) of study %s into the album\n", n, study)

	// 5. Share the album with another user.
	if err := c.AddAlbumUser(ctx, album.ID, o.shareWith); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "shared with %s\n", o.shareWith)

	// 6. A read-only capability link for the album.
	cp, err := c.CreateCapability(ctx, kheops.CapabilityRequest{Title: "kheopsalbum read-only link", Album: album.ID,
		CapabilityPermissions: kheops.CapabilityPermissions{Read: true, Download: true}, Expiration: time.Now().Add(7 * 24 * time.Hour)})
	if err != nil {
		return err
	}
	link, err := kheops.LinkEndpoint(o.root, cp.Secret)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "read-only capability %s, expires %s; DICOMweb link (whoever has it can read the album):\n  %s\n",
		cp.ID, cp.Expiration.Format(time.RFC3339), link)
	studies, err := (&dicomweb.Client{Endpoint: link, HTTPClient: o.hc}).SearchStudies(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "the link sees %d study(ies)\n", len(studies))

	// 7. Wait for the deliveries.
	fmt.Fprintf(stdout, "waiting up to %s for the webhook deliveries...\n", o.wait)
	select {
	case <-done:
		fmt.Fprintln(stdout, "done")
		return nil
	case <-time.After(o.wait):
		return fmt.Errorf("no new_series and new_user deliveries within %s; can KHEOPS reach %s?", o.wait, o.hookURL)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// upload writes a two-instance study with dicomgen and stores it into the
// album.
func upload(ctx context.Context, dw *dicomweb.Client, album string) (int, string, error) {
	dir, err := os.MkdirTemp("", "kheopsalbum")
	if err != nil {
		return 0, "", err
	}
	defer os.RemoveAll(dir)
	files, err := dicomgen.Write(ctx, dir, dicomgen.Options{InstancesPerSeries: 2, Modalities: []string{"CT"}, Seed: time.Now().UnixNano()})
	if err != nil {
		return 0, "", err
	}
	var parts []io.Reader
	for _, f := range files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			return 0, "", err
		}
		parts = append(parts, bytes.NewReader(b))
	}
	res, err := dw.StoreWithQuery(ctx, "", map[string][]string{"album": {album}}, parts...)
	if err != nil {
		return 0, "", err
	}
	return len(res.Stored), files[0].StudyInstanceUID, nil
}

func ptr[T any](v T) *T { return &v }
