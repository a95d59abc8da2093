// Package tusbench compares tusclient with the floor (one raw PATCH of the
// whole body, the fastest any Tus client can send to the same server) and
// with github.com/eventials/go-tus, uploading to tusd v2 in-process over
// loopback, and measures the client's peak RSS in a child process.
//
// Throughput (256 MiB per upload, side by side in one run):
//
//	cd bench && go test -run '^$' -bench BenchmarkUpload -benchtime 3x ./tusclient/
//
// The same, interleaved and rotated round by round, as a Markdown table of
// medians and ratios to the floor (steadier on a shared machine):
//
//	cd bench && TUSBENCH_ROUNDS=15 go test -count=1 -run TestThroughputTable -v ./tusclient/
//
// Peak RSS (VmHWM of a child process that only runs the client; the
// server stays in the parent), at 64 MiB and 1 GiB:
//
//	cd bench && go test -count=1 -run TestPeakRSS -v ./tusclient/
//
// Set TUSBENCH_DIR to put the files elsewhere than the system temp
// directory (for example /dev/shm to take the disk out of the numbers).
//
// go-tus defects, reproduced against tusd (each test passes when the defect
// is present; run the race one with -race to see the reports):
//
//	cd bench && go test -count=1 -run TestGoTus -v ./tusclient/
//	cd bench && go test -count=1 -race -run TestGoTusRace -v ./tusclient/
package tusbench
