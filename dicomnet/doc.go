// Package dicomnet speaks the DICOM network protocol (PS3.7 and PS3.8):
// it receives instances from a modality or a PACS (C-STORE and C-ECHO as a
// service class provider) and sends instances to one (C-STORE and C-ECHO as
// a service class user), over TCP with optional TLS.
//
// A [Server] accepts associations. It checks the called and calling AE
// titles, negotiates presentation contexts (the SOP classes and transfer
// syntaxes it accepts), answers C-ECHO itself and hands each C-STORE to a
// [StoreHandler] as a [StoreRequest] whose Data streams the dataset as it
// arrives, never held whole: memory per association is bounded by the
// maximum PDU length whatever the size of the dataset.
// [StoreRequest.WritePart10] writes the received dataset as a Part 10 file
// (a File Meta group naming the negotiated transfer syntax, then the
// dataset byte for byte as the sender encoded it):
//
//	srv := &dicomnet.Server{
//		AETitle:         "GATEWAY",
//		CallingAETitles: []string{"MODALITY"},
//		Handler: dicomnet.StoreFunc(func(ctx context.Context, req *dicomnet.StoreRequest) dicomnet.Status {
//			// write req.WritePart10 to a temporary file, fsync, rename
//			return dicomnet.StatusSuccess
//		}),
//	}
//	err := srv.ListenAndServe(":11112")
//
// [Dial] opens an association with a peer as the requestor, proposing the
// presentation contexts given in [DialOptions]; the [Association] then
// sends [Association.Echo] and [Association.Store] (a bare dataset) or
// [Association.StoreFile] (a Part 10 file), streaming the dataset in
// P-DATA fragments no larger than the peer accepts, and ends with
// [Association.Release] or [Association.Abort].
//
// Failures come back as typed errors: [*RejectError] (the peer rejected
// the association), [*StatusError] (a DIMSE failure status), [ErrAborted]
// (the association was aborted), [ErrNoContext] (no accepted presentation
// context for a SOP class and transfer syntax), [ErrProtocol] (the peer
// broke the protocol).
//
// Out of scope: C-FIND, C-MOVE, C-GET, worklists, N-services, transfer
// syntax conversion (an instance is sent in the syntax it is encoded in).
// docs/dicom-network.md describes the PDUs, the negotiation and the limits.
package dicomnet
