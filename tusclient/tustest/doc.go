// Package tustest runs a real Tus server for tests, shaped like
// net/http/httptest and like the SDK's other fakes: tusd v2 in-process on
// 127.0.0.1 with its filestore on disk, under a non-root base path.
//
// [NewServer] starts it, configured by options such as [WithChecksum] or
// [WithDir] (it panics if it cannot listen or create its directory, as
// httptest.NewServer does); [Server.URL] is the creation endpoint,
// [Server.Client] an *http.Client for it, and [Server.Close] stops it (in
// a test, t.Cleanup(s.Close)). The server records every request
// ([Server.Calls]), injects failures ([Server.Fail] with a [Failure]: a
// status, a delay, or a damaged chunk, for the next N matching requests
// or, with Times 0, for all of them until [Server.ClearFailures]), can be
// stopped and started again over the same directory like a crashed and
// restarted process ([Server.Stop], [Server.Start]), and tells what it
// stored ([Server.Info], [Info.Complete], [Server.StoredSHA256]).
// [Server.Handler] mounts the same server on another one, for fakes whose
// Tus endpoint sits beside their API.
//
// tusd does not implement the checksum extension; [WithChecksum] adds
// it in front of tusd. [FaultProxy] is a TCP proxy that cuts connections
// after random, seeded byte counts.
//
// Importing tustest compiles tusd; only tests should import it.
package tustest
