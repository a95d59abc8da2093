// Package tustest runs a real Tus server for tests, shaped like
// net/http/httptest: tusd v2 in-process on 127.0.0.1 with its filestore on
// disk, under a non-root base path.
//
// [NewServer] starts it for a test ([New] without one); [Server.URL] is
// the creation endpoint. The server
// records every request ([Server.Requests]), injects failures
// ([Server.FailNext] for bursts of 5xx, [Server.CorruptNext] for damaged
// chunks), can be stopped and started again over the same directory like a
// crashed and restarted process ([Server.Stop], [Server.Start]), and tells
// what it stored ([Server.Info], [Server.StoredSHA256]).
//
// tusd does not implement the checksum extension; [ChecksumHandler] adds it
// in front of tusd ([Options.Checksum]). [FaultProxy] is a TCP proxy that
// cuts connections after random, seeded byte counts.
//
// Importing tustest compiles tusd; only tests should import it.
package tustest
