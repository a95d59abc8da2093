// Package dicomio reads and writes DICOM data elements (PS3.5 chapter 7)
// and Part 10 files (PS3.10 chapter 7), with the standard library only.
//
// It is the one element-level codec of the SDK: dicomscan decodes element
// headers with [DecodeHeader], the fake KHEOPS (kheops/kheopstest)
// reads uploads with [Reader] and builds instances with [Writer]. It knows
// the encodings, not the dictionary: a caller that needs the VR of an
// implicit-VR element brings its own.
//
// Both sides stream. [Reader] reads through an io.Reader with a small
// buffer, hands values out only up to a size the caller chooses, can skip
// or stream anything larger (pixel data), and stops after a configurable
// number of bytes, so hostile input costs bounded memory and work.
// [Writer] writes each element as it is given; a value can come from an
// io.Reader of known length, and undefined-length sequences and
// encapsulated pixel data are written item by item, so a de-identifier or
// a network gateway can pass a file through without holding it.
//
// Transfer syntaxes: implicit VR little endian, explicit VR little endian
// (and every encapsulated syntax, whose dataset uses it), explicit VR big
// endian (retired, but read and written so that a file passes through in
// its own syntax), and deflated explicit VR little endian. [Reader.Enter]
// steps into defined-length sequences and items, so a de-identifier sees
// every nested element.
package dicomio
