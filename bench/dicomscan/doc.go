// Package dicomscan compares github.com/dicombridge/dicombridge/dicomscan
// with its peers on one generated corpus: 2,000 CT-like slices of 512×512
// 16-bit pixels (about 1 GB, one study of 4 series), read from a warm page
// cache.
//
// Scanning (files/s, all with GOMAXPROCS workers or processes):
//
//   - dicomscan.Scanner.Scan: walk, open, header-only parse, group into
//     studies.
//   - floor: open each file and read its first 4 KiB, with the file list
//     given (no walk). This is the physical lower bound for any scanner.
//   - suyashkumar/dicom v1.1.0 ParseFile with SkipPixelData, and NewParser
//     plus Next until the group passes 0x0020 (its best early stop).
//   - pydicom 2.3.1 dcmread(stop_before_pixels=True), reading the same 26
//     attributes, in Debian's /usr/bin/python3.
//   - dcmdump (DCMTK 3.6.7) -q -M +sb 7fe0,0010, output discarded.
//
// Zipping (MB/s of source bytes, output discarded): a plain copy of the
// bytes, dicomscan.Zip storing, dicomscan.Zip deflating at levels 1 and 6,
// and archive/zip's default Deflate (compress/flate level 5).
//
// Peak memory: a child process scans the corpus and zips it to a temporary
// file, then reports its maximum resident set size (target: 64 MiB).
//
// Run from bench/:
//
//	go test ./dicomscan -run '^$' -bench . -benchtime 3x -timeout 60m
//
// The first run writes the corpus (about 1 GB) under
// $TMPDIR/dicombridge-bench-ct2000, or $DICOMBRIDGE_BENCH_CORPUS; later runs
// reuse it.
package dicomscan
