package tusclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

func ExampleClient_NewUpload() {
	srv := tustest.NewServer() // tusd in-process
	defer srv.Close()

	c, err := tusclient.New(tusclient.Config{
		Endpoint:   srv.URL,
		HTTPClient: srv.Client(),
		BeforeRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer my-token")
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	data := strings.NewReader("hello, resumable world")
	up, err := c.NewUpload(data, data.Size(), tusclient.UploadOptions{
		Metadata: tusclient.Metadata{{Key: "filename", Value: "hello.txt"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := up.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	info, _ := srv.Info(up.URL())
	fmt.Println(info.Offset, "bytes stored as", info.MetaData["filename"])
	// Output: 22 bytes stored as hello.txt
}

func ExampleClient_NewStreamUpload() {
	srv := tustest.NewServer() // tusd in-process
	defer srv.Close()

	c, _ := tusclient.New(tusclient.Config{Endpoint: srv.URL, HTTPClient: srv.Client(), ChunkSize: 4})
	// A stream of unknown length: the upload is created with
	// Upload-Defer-Length and the last PATCH declares the length.
	up, _ := c.NewStreamUpload(strings.NewReader("produced on the fly"), -1, tusclient.UploadOptions{
		OnProgress: func(p tusclient.Progress) {
			if p.Size >= 0 && p.Offset == p.Size {
				fmt.Println("done:", p.Size, "bytes")
			}
		},
	})
	if err := up.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output: done: 19 bytes
}

func ExampleUpload_Terminate() {
	srv := tustest.NewServer() // tusd in-process
	defer srv.Close()

	c, _ := tusclient.New(tusclient.Config{Endpoint: srv.URL, HTTPClient: srv.Client(), ChunkSize: 8})
	ctx, cancel := context.WithCancel(context.Background())
	up, _ := c.NewUpload(strings.NewReader("a study the user cancels"), 24, tusclient.UploadOptions{
		OnProgress: func(p tusclient.Progress) {
			if p.Offset >= 8 {
				cancel() // the user presses Cancel
			}
		},
	})
	err := up.Run(ctx)
	fmt.Println("cancelled:", errors.Is(err, context.Canceled))
	// Delete what the server received.
	if err := up.Terminate(context.Background()); err != nil {
		fmt.Println(err)
	}
	_, err = srv.Info(up.URL())
	fmt.Println("still on server:", err == nil)
	// Output:
	// cancelled: true
	// still on server: false
}

func ExampleMetadata_Encode() {
	md := tusclient.Metadata{
		{Key: "upload_id", Value: "42"},
		{Key: "filename", Value: "42.zip"},
		{Key: "type", Value: "application/zip"},
	}
	h, err := md.Encode()
	fmt.Println(h, err)
	// Output: upload_id NDI=,filename NDIuemlw,type YXBwbGljYXRpb24vemlw <nil>
}

func ExampleHTTPError() {
	srv := tustest.NewServer() // tusd in-process
	defer srv.Close()
	srv.Fail(tustest.Failure{Method: http.MethodPost, Times: 1, Status: http.StatusForbidden})

	c, _ := tusclient.New(tusclient.Config{Endpoint: srv.URL, HTTPClient: srv.Client()})
	up, _ := c.NewUpload(strings.NewReader("x"), 1, tusclient.UploadOptions{})
	err := up.Run(context.Background())
	var he *tusclient.HTTPError
	if errors.As(err, &he) {
		fmt.Println(he.Method, he.StatusCode, string(he.Body))
	}
	// Output: POST 403 tustest: injected failure 403
}

func ExampleRetryPolicy() {
	// Retry 429 Too Many Requests as well, with shorter waits.
	policy := tusclient.RetryPolicy{
		Delays: []time.Duration{0, 500 * time.Millisecond, 2 * time.Second},
		ShouldRetry: func(err error, attempt int) bool {
			var he *tusclient.HTTPError
			if errors.As(err, &he) && he.StatusCode == http.StatusTooManyRequests {
				return true
			}
			return tusclient.DefaultShouldRetry(err, attempt)
		},
	}
	_, err := tusclient.New(tusclient.Config{Endpoint: "https://tus.example.org/files/", Retry: policy})
	fmt.Println(err)
	// Output: <nil>
}
