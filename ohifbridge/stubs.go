package ohifbridge

import "net/http"

func notYet(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "not implemented yet", http.StatusNotImplemented)
}

func (b *Bridge) launchHandler() http.Handler                           { return http.HandlerFunc(notYet) }
func (b *Bridge) serveDiscovery(w http.ResponseWriter, r *http.Request) { notYet(w, r) }
func (b *Bridge) serveAuthorize(w http.ResponseWriter, r *http.Request) { notYet(w, r) }
func (b *Bridge) serveToken(w http.ResponseWriter, r *http.Request)     { notYet(w, r) }
func (b *Bridge) serveUserinfo(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (b *Bridge) serveJWKS(w http.ResponseWriter, r *http.Request)      { notYet(w, r) }
func (b *Bridge) serveRevoke(w http.ResponseWriter, r *http.Request)    { notYet(w, r) }
func (b *Bridge) serveLogout(w http.ResponseWriter, r *http.Request)    { notYet(w, r) }
func (b *Bridge) serveProxy(w http.ResponseWriter, r *http.Request)     { notYet(w, r) }
func (b *Bridge) cors(h http.Handler, _ string) http.Handler            { return h }
func publicJWKS(string, any) ([]byte, error)                            { return []byte(`{"keys":[]}`), nil }
