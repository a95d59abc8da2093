package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"syscall"

	"github.com/dicombridge/dicombridge/dicomnet"
)

// Store receives one C-STORE: it makes the Gateway a
// [dicomnet.StoreHandler]. The instance is written to the spool as a Part
// 10 file ([dicomnet.StoreRequest.WritePart10]: the dataset byte for byte
// as received) and Store answers [dicomnet.StatusSuccess] only once the
// file and its name in its study's directory are on disk (fsync, unless
// [Config.NoSync]). Otherwise nothing of it is kept and the answer is a
// failure: [dicomnet.StatusCannotUnderstand] for data without a Study
// Instance UID, [dicomnet.StatusOutOfResources] when the disk is full,
// [dicomnet.StatusProcessingFailure] for the rest (a dataset cut short, a
// closed gateway, a write error).
func (g *Gateway) Store(ctx context.Context, req *dicomnet.StoreRequest) dicomnet.Status {
	err := g.receive(ctx, func(w io.Writer) error {
		_, err := req.WritePart10(w)
		return err
	})
	if err == nil {
		return dicomnet.StatusSuccess
	}
	g.log(ctx, slog.LevelWarn, "gateway: instance refused", slog.String("calling_ae", req.CallingAETitle),
		slog.String("sop_instance_uid", req.SOPInstanceUID), slog.String("error", err.Error()))
	switch {
	case errors.Is(err, ErrNotDICOM):
		return dicomnet.StatusCannotUnderstand
	case errors.Is(err, syscall.ENOSPC):
		return dicomnet.StatusOutOfResources
	}
	return dicomnet.StatusProcessingFailure
}
