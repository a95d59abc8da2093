// Package bench holds side-by-side comparisons of dicombridge against its
// peers (the AWS SigV4 signer, eventials/go-tus, suyashkumar/dicom, pydicom,
// dcmtk, a trivial net/http handler). It is a separate module so that those
// peers never enter the SDK's dependency graph. Each subdirectory is one
// comparison; its README or doc comment gives the command that reproduces
// the numbers in the top-level README.
package bench
