// Package tusclient uploads files and streams resumably over the Tus 1.0
// protocol (https://tus.io/protocols/resumable-upload), so that an upload
// survives dropped connections, server restarts and process restarts and
// ends with byte-identical data, while the caller can cancel it at any
// moment.
//
// # Tour
//
// [New] makes a [Client] for one creation endpoint from a [Config] whose
// zero values are working defaults. [Client.NewUpload] prepares an
// [Upload] from an io.ReaderAt and a size (nothing is buffered: memory use
// does not depend on the file size); [Client.NewStreamUpload] does the same
// for an io.Reader whose length may be unknown (one chunk is buffered).
// [Upload.Run] creates the upload (POST), sends PATCH requests of
// [Config.ChunkSize] bytes (8 MiB by default) and returns once the server
// holds every byte. [Upload.Terminate] deletes it on the server.
//
//	c, err := tusclient.New(tusclient.Config{
//		Endpoint: "https://tus.example.org/files/",
//		BeforeRequest: func(r *http.Request) error {
//			r.Header.Set("Authorization", "Bearer "+token)
//			return nil
//		},
//	})
//	f, _ := os.Open("study.zip")
//	st, _ := f.Stat()
//	store, _ := tusclient.NewFileStore(stateDir)
//	up, err := c.NewUpload(f, st.Size(), tusclient.UploadOptions{
//		Metadata:    tusclient.Metadata{{Key: "filename", Value: "study.zip"}},
//		Fingerprint: "study.zip:" + st.ModTime().String(),
//		Store:       store,
//		OnProgress:  func(p tusclient.Progress) { log.Println(p.Offset, p.Size) },
//	})
//	err = up.Run(ctx)
//
// # Protocol coverage
//
// Core protocol (HEAD, PATCH, OPTIONS), and the extensions creation,
// creation-with-upload ([Config.UploadDataDuringCreation]),
// creation-defer-length (streams of unknown length), termination,
// checksum (used whenever the server offers it; [Config.Checksum]) and
// concatenation (parallel partial uploads, [Config.ParallelUploads]).
// [Metadata] is ordered: keys go on the wire in the caller's order, which
// servers comparing Upload-Metadata byte for byte (the Aura uploader) need.
// X-HTTP-Method-Override is available for hostile proxies
// ([Config.OverridePatchMethod]).
//
// # Robustness
//
// Failed requests are retried after 0, 1, 3 and 5 s (like tus-js-client;
// [RetryPolicy] makes this configurable, with a ShouldRetry hook), each
// wait spread by ±20 % so that clients that failed together do not retry
// in lockstep. Network
// errors, stalled requests ([Config.StallTimeout]), 5xx, 409, 423 and 460
// are retried; other 4xx are not. Before every retry the client asks the
// server for the offset with HEAD and resends only what is missing; the
// delays start over whenever the upload made progress. Waits race a timer
// against the context, and cancelling the context stops the request in
// flight. A [Store] ([MemoryStore], [FileStore]) keeps the upload URL under
// a fingerprint, so a restarted process resumes the same upload without
// resending finished bytes. Progress and other events are callbacks, never
// channels. Failures come back as [*HTTPError] (method, URL without its
// query, status and a cleaned body excerpt of at most 512 bytes, the
// fields of every remote error of this SDK; errors.As) and sentinel
// errors ([ErrNotFound],
// [ErrChecksumMismatch], ...; errors.Is). Credentials never appear in
// errors or logs, and upload URLs handed out by the server (Location
// headers and redirects) or read from a store must share the endpoint's
// origin (scheme, host and port, with default ports made explicit) unless
// [Config.CheckUploadURL] says otherwise, so a token is never sent to
// another host; at most 5 redirects are followed.
//
// A [Client] is safe for concurrent use. An [Upload]'s accessors are too;
// its Run and Terminate do not overlap.
//
// # Why not github.com/eventials/go-tus
//
// The SDK's first design named eventials/go-tus. It is unfit, and its
// defects live inside its Uploader, so no wrapper can fix them. Its last
// commit is from 2022-06-10 (no tags, go 1.13, about 166 go.sum lines) and
// fixes for its goroutine leak have stayed unmerged since 2024. Reproduced
// against tusd v2.10.0 (bench/tusclient, TestGoTus*):
//
//   - a progress channel nobody drains stalls the upload forever (stuck at
//     262144 of 1048576 bytes after 2 s);
//   - every Uploader leaks a goroutine (50 uploads left 50 goroutines in
//     broadcastProgress);
//   - two data races under -race (Abort against Upload; progress updates
//     against the broadcast);
//   - no context: 1 s after Abort, Upload is still blocked in a PATCH to a
//     stalled server;
//   - no retries: a single 503 ends the upload;
//   - metadata is a map, so Upload-Metadata comes out in random order (7
//     different key orders in 50 encodings);
//   - Progress on an empty upload panics (integer divide by zero);
//   - an io.Reader that cannot seek is read into memory whole (275 MiB peak
//     RSS for a 64 MiB stream), and every chunk allocates a new buffer.
//
// It also lacks termination, checksums, concatenation, deferred length,
// creation-with-upload and a per-request hook.
package tusclient
