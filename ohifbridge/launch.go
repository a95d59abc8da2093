package ohifbridge

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/dicombridge/dicombridge/reportprovider"
)

// launchHandler receives KHEOPS launches at the provider's redirect_uri.
// reportprovider checks the launch and redeems the code at once; the
// bridge then opens a session and sends the browser to OHIF's login
// initiation with a login_hint of its own (see docs/ohif-bridge.md,
// "Third-party initiated login").
func (b *Bridge) launchHandler() http.Handler {
	return b.provider.LaunchHandler(b.launched, b.launchFailed)
}

func (b *Bridge) launched(w http.ResponseWriter, r *http.Request, ks *reportprovider.Session) {
	ctx := r.Context()
	now := b.now()
	ttl := ks.Expiry.Sub(now)
	if ttl <= 0 {
		b.launchFailed(w, r, errors.New("ohifbridge: the KHEOPS token has already expired"))
		return
	}
	sid, err := newSessionID()
	if err != nil {
		b.launchFailed(w, r, err)
		return
	}
	s := session{KHEOPS: *ks, ClientID: b.client.ID, AuthTime: now.Unix()}
	if err := b.put(ctx, sessionKey(sid), &s, ttl); err != nil {
		b.launchFailed(w, r, err)
		return
	}
	hint, err := newSecret()
	if err != nil {
		b.launchFailed(w, r, err)
		return
	}
	if err := b.put(ctx, key(kindHint, hint), hintRecord{SID: sid, ClientID: b.client.ID}, min(hintTTL, ttl)); err != nil {
		b.launchFailed(w, r, err)
		return
	}
	if b.log != nil {
		b.log.InfoContext(ctx, "ohifbridge: launch", "sid", sid, "kheops", ks)
	}
	q := url.Values{
		"iss":             {b.issuer},
		"login_hint":      {hint},
		"target_link_uri": {b.targetLink(ks.StudyUIDs)},
	}
	noStore(w)
	w.Header().Set("Location", appendQuery(b.client.LoginURL, q))
	w.WriteHeader(http.StatusSeeOther)
}

// targetLink fills Client.ViewerURL with the study UIDs, which
// reportprovider has checked to be digits and dots only.
func (b *Bridge) targetLink(uids []string) string {
	return strings.NewReplacer(
		placeholderSemicolon, strings.Join(uids, ";"),
		placeholderComma, strings.Join(uids, ","),
	).Replace(b.client.ViewerURL)
}

// launchFailed answers a refused launch with a status text; the reason
// goes to the logger only.
func (b *Bridge) launchFailed(w http.ResponseWriter, r *http.Request, err error) {
	code := reportprovider.ErrorStatus(err)
	if errors.Is(err, errStore) {
		code = http.StatusServiceUnavailable
	}
	if b.log != nil {
		b.log.InfoContext(r.Context(), "ohifbridge: launch refused", "error", err.Error())
	}
	noStore(w)
	http.Error(w, http.StatusText(code), code)
}

// appendQuery adds q to u, after any query u already has, in q's key order.
func appendQuery(u string, q url.Values) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
		if strings.HasSuffix(u, "?") || strings.HasSuffix(u, "&") {
			sep = ""
		}
	}
	return u + sep + q.Encode()
}

// noStore marks a response that carries or leads to a secret.
func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
}
