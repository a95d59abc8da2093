// Package uploader uploads folders of DICOM studies to Aura: the Go
// counterpart of Aurabox's standalone uploader (see docs/uploader.md),
// correct on the wire, resumable, observable and honest about failures.
//
// # The engine
//
// [Uploader] does the whole upload in one call. Stop it with the context:
// a context that ends pauses the upload, it never destroys it.
//
//	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	u := &uploader.Uploader{API: api, StateDir: stateDir}
//	res, err := u.Upload(ctx, "/data/incoming")
//	if errors.Is(err, uploader.ErrResumable) {
//		// paused (SIGTERM, deadline) or Aura unreachable: later, in this
//		// process or another, u.Pending() lists it, and
//		// u.Resume(ctx, id) finishes it; u.Cancel(ctx, id) destroys it.
//	}
//
// It fetches and validates the config once, scans the paths (package
// dicomscan), announces the studies with init (built byte for byte as the
// browser client builds it), calls start and waits for its answer, streams
// the zip of the files to the Tus endpoint in 5 MiB chunks, with the
// reference metadata and the lift token, and calls complete only once Tus
// holds every byte; with [Uploader.Submit] it then submits the upload. One
// UUID v4 upload_id names the upload everywhere. A failure is reported to
// Aura with error and its real cause.
//
// The pause, resume, cancel triangle:
//
//   - pause: the context ends, whatever the cause. Nothing is sent to Aura,
//     the Tus upload is kept; the error matches [ErrPaused] and, with
//     StateDir, [ErrResumable].
//   - resume: [Uploader.Resume] continues a paused (or unreported failed)
//     upload saved in StateDir, even in another process, sending only the
//     archive bytes the Tus server does not hold; [Uploader.Pending] lists
//     them.
//   - cancel: [Uploader.Cancel] or [Session.Cancel] destroy the upload: Aura
//     is told cancel and the Tus upload is deleted. Nothing else does.
//
// In two steps, [Uploader.Prepare] returns a [Session] whose studies can be
// inspected ([Session.Studies], [Session.Scan]) and removed
// ([Session.Remove]) before [Session.Upload]. [Callbacks] report the
// studies found, every [State], [Progress] (bytes, files, rate and time
// left, with the state it belongs to), completion, errors and
// cancellation.
//
// With deflated entries the archive goes in one pass when the Tus server
// offers creation-defer-length, in two otherwise (see [Uploader], "One
// pass"). Since the archive is produced on the fly, a resume produces it
// again: if the files changed meanwhile the upload fails with
// [*SourcesChangedError] rather than complete a corrupt archive.
//
// With [Uploader.Deidentify] every file is de-identified (package deid)
// before it is zipped: the archive, its entry names and the init body
// carry only the de-identified values, the sources are only read, and a
// resume is still exact (see docs/uploader.md, "De-identification").
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
//     (series values null when missing, study values ""); [Session.Studies]
//     builds its studies from a scan;
//   - [API.Start], [API.Complete], [API.Error], [API.Cancel]: the
//     lifecycle calls.
//
// Failures from Aura come back as *uploadtoken.APIError, failures from Tus
// as *tusclient.HTTPError, so errors.As gives the status and message. No
// error, log line or message sent to Aura contains a credential.
package uploader
