// Package uploader talks to the Aura uploader API, the Go counterpart of
// Aurabox's standalone uploader (spec §4).
//
// [API] is the client of the uploader endpoints, authenticated with an
// upload token from an uploadtoken.Source and the service API key:
//
//   - [API.Config]: GET /uploader/config, validated into a [ServerConfig]
//     (the Tus endpoint, lift token and bucket, and the mode) with the
//     reference client's messages ([ConfigError], [ErrServerConfig]);
//   - [API.Init]: POST /uploader/upload/init with an [InitRequest], whose
//     JSON is built byte for byte as the reference client builds it
//     (series values null when missing, study values "");
//   - [API.Start], [API.Complete], [API.Error], [API.Cancel]: the
//     lifecycle calls.
//
// Failures from Aura come back as *uploadtoken.APIError, so one errors.As
// serves the token exchange and the uploader alike.
package uploader
