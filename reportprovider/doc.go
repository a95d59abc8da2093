// Package reportprovider implements the provider side of the KHEOPS Report
// Provider API: the OAuth-like launch by which a KHEOPS album hands a study
// to an external web application (an AI tool, a structured-report editor,
// a viewer) together with a token to read it and store results back.
//
// KHEOPS, not the provider, starts the flow, so there is no state
// parameter, no nonce, no PKCE; codes are reusable for ten minutes; the
// conf_uri and return_uri parameters arrive through the browser and can be
// forged. This package makes the safe handling the default:
//
//   - a launch is accepted only from an allowlisted KHEOPS instance
//     ([Issuer]): conf_uri must equal its configuration URL exactly, checked
//     before any network I/O, and every request the provider makes goes
//     through a transport that refuses other origins, cross-origin
//     redirects and (unless allowed) private addresses, checked both when
//     the name is looked up and on the address actually dialled, so DNS
//     rebinding cannot reach an internal host;
//   - the KHEOPS configuration document must name that issuer and keep every
//     endpoint on its origin, so a forged document cannot route the token
//     elsewhere;
//   - each authorization code is claimed in a single-use [CodeStore] before
//     it is sent, so the provider never redeems a code twice even though
//     KHEOPS would;
//   - every token, from either flow, is introspected and must belong to this
//     client_id, this redirect_uri, this issuer and exactly the launch's
//     studies (token substitution), and userinfo must name the same user;
//   - return_uri is rebuilt from the issuer and album, never echoed;
//   - tokens print as "[redacted]" ([Token]).
//
// # Tour
//
// A provider publishes a [Configuration] document at the URL an album admin
// registers in KHEOPS, and a JWKS with its RSA [Key] for the code flow.
// [New] checks both against the rules KHEOPS applies at registration (the
// exact-text same-origin rule for redirect_uri and jwks_uri), so a provider
// that starts is one KHEOPS accepts.
//
// [Provider.LaunchHandler] receives launches at the redirect_uri: the code
// flow from the query, the implicit flow from the fragment, which a tiny page
// with a strict Content-Security-Policy posts back. [Provider.Complete] does
// the checks above and the private_key_jwt code exchange (RS256, kid, a fresh
// jti, iss = sub = client_id, aud = the token endpoint, two minutes of
// validity) and returns a [Session]: user, studies, album, scope, expiry and
// the DICOMweb endpoint. Token-endpoint errors come back as [*OAuthError],
// other HTTP failures as [*HTTPError], and every refusal wraps one of the
// sentinel errors such as [ErrUntrustedIssuer] or [ErrTokenRejected];
// [ErrorStatus] maps them to an HTTP status for the browser.
//
// [Session.Client] returns an *http.Client that sends the bearer token only
// to the KHEOPS origin, and [Session.DICOMweb] a client of package
// dicomweb (QIDO-RS search, WADO-RS metadata and retrieval, streaming
// STOW-RS upload) that sends it.
//
// KHEOPS issues no refresh token; when [Session.Expiry] passes the user
// launches the provider again.
//
// The package kheops/kheopstest is a fake KHEOPS, shaped like
// net/http/httptest, that behaves like the KHEOPS code (including its
// reusable codes) for tests.
//
// The protocol, as this package relies on it, is described in the
// repository's docs/kheops.md.
package reportprovider
