// Package gateway receives DICOM instances from modalities and PACS
// (C-STORE, through package dicomnet) into a durable spool on disk, groups
// them by study, and uploads each study once it has been quiet for a
// while, losing nothing: an instance is acknowledged only once it is on
// disk, a crash or kill -9 loses nothing that was acknowledged, and after
// a restart every pending study is finished (an interrupted upload is
// resumed, a completed one never repeated). See docs/gateway.md.
//
// [Open] takes a spool directory over and finds what an earlier process
// left; the [Gateway] is the [dicomnet.StoreHandler] of a dicomnet.Server,
// and [Gateway.Run] seals quiet studies and uploads them:
//
//	g, err := gateway.Open(ctx, gateway.Config{
//		Dir:      "/var/spool/dicom",
//		Uploader: &gateway.Aura{Uploader: &uploader.Uploader{API: api}},
//	})
//	if err != nil { ... }
//	defer g.Close()
//	srv := &dicomnet.Server{AETitle: "GATEWAY", CallingAETitles: []string{"CT1"}, Handler: g}
//	go srv.ListenAndServe(":11112")
//	err = g.Run(ctx) // until ctx ends
//
// [Gateway.Store] writes each instance as a Part 10 file (the dataset byte
// for byte as received) to a temporary file, fsyncs it, renames it into
// its study's directory and fsyncs that directory before answering
// Success. [Uploader] is the upload step, called one study at a time with
// a [Study]; [Aura] implements it with package uploader, exactly once. A
// failed upload stays in the spool and is retried with exponential
// back-off. [List] describes the spool, even while a gateway runs on it.
//
// A Gateway is silent unless given a [log/slog.Logger]; memory is bounded
// by a 64 KiB write buffer per instance being received and a small record
// per study in the spool.
package gateway
