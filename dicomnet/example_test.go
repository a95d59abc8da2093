package dicomnet_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/dicomnet"
)

// A server that keeps each received instance as a Part 10 file, and a
// client that stores a generated CT slice into it.
func Example() {
	dir, _ := os.MkdirTemp("", "dicomnet-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	srv := &dicomnet.Server{
		AETitle:         "GATEWAY",
		CallingAETitles: []string{"MODALITY"},
		Handler: dicomnet.StoreFunc(func(ctx context.Context, req *dicomnet.StoreRequest) dicomnet.Status {
			// A real handler writes to a temporary file, syncs and
			// renames it before answering success.
			var file bytes.Buffer
			if _, err := req.WritePart10(&file); err != nil {
				return dicomnet.StatusProcessingFailure // incomplete: keep nothing
			}
			fmt.Printf("received %s from %s: %d bytes\n", req.SOPClassUID, req.CallingAETitle, file.Len())
			return dicomnet.StatusSuccess
		}),
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)

	files, _ := dicomgen.Write(ctx, dir, dicomgen.Options{})
	assoc, err := dicomnet.Dial(ctx, ln.Addr().String(), dicomnet.DialOptions{
		CallingAETitle: "MODALITY",
		CalledAETitle:  "GATEWAY",
		Contexts: []dicomnet.PresentationContext{{
			AbstractSyntax:   files[0].SOPClassUID,
			TransferSyntaxes: []string{files[0].TransferSyntaxUID},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("echo:", assoc.Echo(ctx))
	f, _ := os.Open(filepath.Join(dir, files[0].Name))
	defer f.Close()
	status, err := assoc.StoreFile(ctx, f)
	fmt.Println("store:", status, err)
	fmt.Println("release:", assoc.Release(ctx))
	// Output:
	// echo: <nil>
	// received 1.2.840.10008.5.1.4.1.1.2 from MODALITY: 9430 bytes
	// store: 0x0000 (success) <nil>
	// release: <nil>
}
