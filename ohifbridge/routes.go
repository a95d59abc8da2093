package ohifbridge

import (
	"fmt"
	"net/http"
	"strings"
)

// routes builds the handler: exact paths for the report provider and the
// OpenID endpoints, a prefix for the DICOMweb proxy. Two URLs on one path
// are refused.
func (b *Bridge) routes() (http.Handler, error) {
	proxyPrefix := b.basePath + pathDICOMweb + "/"
	routes := []struct {
		path string
		h    http.Handler
	}{
		{b.rpPaths.conf, b.provider.ConfigurationHandler()},
		{b.rpPaths.jwks, b.provider.JWKSHandler()},
		{b.rpPaths.launch, b.launchHandler()},
		{b.basePath + pathDiscovery, http.HandlerFunc(b.serveDiscovery)},
		{b.basePath + pathAuthorize, http.HandlerFunc(b.serveAuthorize)},
		{b.basePath + pathToken, b.cors(http.HandlerFunc(b.serveToken), "POST", corsHeaders)},
		{b.basePath + pathUserinfo, b.cors(http.HandlerFunc(b.serveUserinfo), "GET, POST", corsHeaders)},
		{b.basePath + pathJWKS, http.HandlerFunc(b.serveJWKS)},
		{b.basePath + pathRevoke, b.cors(http.HandlerFunc(b.serveRevoke), "POST", corsHeaders)},
		{b.basePath + pathLogout, http.HandlerFunc(b.serveLogout)},
	}
	exact := make(map[string]http.Handler, len(routes))
	for _, r := range routes {
		if _, dup := exact[r.path]; dup || strings.HasPrefix(r.path, proxyPrefix) {
			return nil, fmt.Errorf("ohifbridge: two endpoints on the path %s: move the issuer or the provider's URLs", r.path)
		}
		exact[r.path] = r.h
	}
	var proxy http.Handler
	if b.mode == Proxy {
		proxy = b.cors(http.HandlerFunc(b.serveProxy), "GET, HEAD, POST", corsProxyHeaders)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if h, ok := exact[p]; ok {
			h.ServeHTTP(w, r)
			return
		}
		if proxy != nil && strings.HasPrefix(p, proxyPrefix) {
			proxy.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}), nil
}
