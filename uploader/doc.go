// Package uploader uploads folders of DICOM studies to Aura: the Go
// counterpart of Aurabox's standalone uploader (spec §4-5), correct on the
// wire, resumable, observable and honest about failures.
//
// # The engine
//
// [Uploader] does the whole upload in one call:
//
//	u := &uploader.Uploader{API: api, StateDir: stateDir}
//	res, err := u.Upload(ctx, "/data/incoming")
//
// It fetches and validates the config once, scans the paths (package
// dicomscan), announces the studies with init (built byte for byte as the
// browser client builds it), calls start and waits for its answer, streams
// the zip of the files to the Tus endpoint with a known length, in 5 MiB
// chunks, with the reference metadata and the lift token, and calls
// complete only once Tus holds every byte. One UUID v4 upload_id names the
// upload everywhere. A failure is reported with error and its real cause,
// a cancellation with cancel (and the Tus upload deleted).
//
// In two steps, [Uploader.Prepare] returns a [Session] whose studies can be
// inspected ([Session.Studies], [Session.Scan]) and removed
// ([Session.Remove]) before [Session.Upload]. [Session.Pause] and
// [Session.Cancel] stop it from any goroutine. [Callbacks] report the
// studies found, every [State], [Progress] in bytes and files, completion,
// errors and cancellation.
//
// With StateDir set, an upload interrupted by a pause, a crash or a lost
// network is continued by [Uploader.Resume], even in another process,
// without sending again the bytes the Tus server holds;
// [Uploader.Pending] lists such uploads and [Uploader.Discard] abandons
// one. Since the archive is produced on the fly, a resume produces it
// again: if the files changed meanwhile the upload fails with
// [*SourcesChangedError] rather than complete a corrupt archive.
//
// # The API client
//
// [API] is the client of the uploader endpoints, authenticated with an
// upload token from an uploadtoken.Source and the service API key:
//
//   - [API.Config]: GET /uploader/config, validated into a [ServerConfig]
//     (the Tus endpoint, lift token and bucket, and the mode) with the
//     reference client's messages ([ConfigError], [ErrServerConfig]);
//   - [API.Init]: POST /uploader/upload/init with an [InitRequest], whose
//     JSON is built byte for byte as the reference client builds it
//     (series values null when missing, study values ""); [StudiesFromScan]
//     builds its studies from a scan;
//   - [API.Start], [API.Complete], [API.Error], [API.Cancel]: the
//     lifecycle calls.
//
// Failures from Aura come back as *uploadtoken.APIError, failures from Tus
// as *tusclient.HTTPError, so errors.As gives the status and message. No
// error, log line or message sent to Aura contains a credential.
package uploader
