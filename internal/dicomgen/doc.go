// Package dicomgen writes realistic synthetic DICOM studies for tests,
// benchmarks and demos, with github.com/suyashkumar/dicom as the encoder.
//
// It is internal: tests, benchmarks (bench/dicomscan) and
// examples/quickstart use it; its output is not a public contract.
//
// [Write] lays out Studies × SeriesPerStudy × InstancesPerSeries Part 10
// files under a directory: CT- or MR-like headers (patient, study, series,
// equipment, geometry, window, rescale), patient names in several scripts
// with the matching Specific Character Set, and native 16-bit pixel data
// (a phantom plus noise, so it compresses like real slices) or, for an
// encapsulated transfer syntax, one compressed-looking fragment per frame.
// Everything derives from [Options.Seed]: the same options give the same
// bytes.
//
//	files, err := dicomgen.Write(dir, dicomgen.Options{Studies: 2, SeriesPerStudy: 3, InstancesPerSeries: 50})
package dicomgen
