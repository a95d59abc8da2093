// Package ohifbridge lets KHEOPS open the OHIF viewer on a study without
// an access token in any URL. A [Bridge] is two things at once:
//
//   - a KHEOPS report provider (code flow, built on the reportprovider
//     package): it serves its configuration document and JWKS, receives
//     the launch, and redeems the KHEOPS authorization code at once with
//     private_key_jwt. The KHEOPS code never leaves the bridge;
//   - an OpenID Connect provider for OHIF: after a launch it sends the
//     browser to OHIF's login-initiation URL (OpenID Connect third-party
//     initiated login) with iss, a login_hint of its own (random,
//     single-use, valid two minutes) and target_link_uri, the viewer URL
//     with the launch's study UIDs. OHIF then runs an ordinary
//     authorization code flow with PKCE against the bridge.
//
// # Tour
//
// [New] takes [Options]: the bridge's issuer (the exact string OHIF is
// configured with as its authority), the report provider's options, the
// OHIF [Client] (client_id, login URL, redirect URIs) and the [Mode].
// [Bridge.Handler] serves everything: the report provider's configuration
// document, JWKS and launch URL at the paths of their URLs, and the OpenID
// provider under the issuer:
//
//	ISSUER/.well-known/openid-configuration  discovery
//	ISSUER/authorize                         authorization endpoint
//	ISSUER/token                             token endpoint (code, refresh_token)
//	ISSUER/userinfo                          userinfo endpoint
//	ISSUER/jwks                              the id_token signing key
//	ISSUER/revoke                            revocation (RFC 7009)
//	ISSUER/logout                            end-session endpoint
//	ISSUER/dicomweb/...                      DICOMweb proxy (Proxy mode)
//
// The OpenID provider is strict where OHIF's libraries allow it: PKCE S256
// is required; redirect_uri must equal a registered one exactly (no open
// redirect); codes live one minute, are single-use (a second use revokes
// what the first one gave) and are bound to the client, the redirect_uri
// and the challenge; state is echoed and nonce put in the id_token;
// id_tokens are RS256 with the same sub as userinfo; refresh tokens
// rotate, are single-use (presenting a used one revokes the whole
// session) and never outlive the KHEOPS token behind them. The endpoints
// a browser calls (token, userinfo, revocation, the DICOMweb proxy) answer
// CORS requests, preflights included, from the OHIF origins only.
//
// # Modes
//
// In [Proxy] mode (the zero value) the KHEOPS token never reaches the
// browser: OHIF receives short-lived bridge access tokens (five minutes by
// default) and sends its DICOMweb requests to ISSUER/dicomweb, which the
// bridge forwards, streaming and bounded, to the KHEOPS instance of the
// launch and to no other origin. Refresh is real: a leaked browser token
// is worth minutes, and revoking the session stops the proxy at once.
//
// In [Direct] mode OHIF receives the KHEOPS access token itself and talks
// DICOMweb to KHEOPS directly. KHEOPS issues no refresh token, so a
// refresh only renews the bridge session, always with the same KHEOPS
// token, and never beyond that token's expiry (one hour after the
// launch); revocation at the bridge does not revoke the token at KHEOPS.
//
// Codes, hints, sessions and tokens are kept in a [Store]: in memory and
// bounded by default; give a shared Store to run several instances.
// Secrets never appear in logs or error text; the Store only ever sees
// hashes of the bridge's own tokens as keys.
//
// The protocol as the bridge implements it, and what a browser client
// must send, is described in the repository's docs/ohif-bridge.md.
package ohifbridge
