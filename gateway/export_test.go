package gateway

// Receive lets the tests store a file without a DICOM association.
var Receive = (*Gateway).receive
