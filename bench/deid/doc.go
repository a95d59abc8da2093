// Package deid compares github.com/dicombridge/dicombridge/deid with its
// peers on the generated 1 GB corpus of bench/dicomscan (2,000 CT-like
// slices of 512 × 512 × 16 bits, one study of 4 series), read from a warm
// page cache, in one run:
//
//   - copy: every file read and written again through a 256 KiB buffer,
//     GOMAXPROCS workers: the floor any de-identifier that writes files
//     pays;
//   - deid: deid.Profile.Apply (the Basic Profile) from each file into a
//     new one, GOMAXPROCS workers;
//   - gdcmanon (GDCM 3.0, Debian libgdcm-tools) -e: its Basic Profile,
//     which also encrypts the original attributes into the output with a
//     certificate, one process per series directory;
//   - orthanc: Orthanc 1.10's POST /studies/{id}/anonymize (Basic Profile
//     2021b) on the study uploaded beforehand (the upload is not timed); it
//     writes the copy into Orthanc's storage.
//
// The target is deid at 0.5× the copy's MB/s or better. Run from bench/:
//
//	go test ./deid -run '^$' -bench . -benchtime 1x -timeout 90m
//
// TestHarness, which CI runs, does the same on a 20-file corpus and checks
// that every runner wrote its outputs.
package deid
