package dicomnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// fuzzSeeds are whole conversations a requestor could send: an
// association request, C-ECHO, C-STORE with a dataset, release.
func fuzzSeeds() [][]byte {
	rq := encodeAssoc(pduAssociateRQ, &assocRQ{
		called: "GATEWAY", calling: "SCU", appContext: applicationContextName, maxLength: 4096,
		contexts: []pcItem{
			{id: 1, abstract: verificationSOPClass, syntaxes: []string{implicitVRLittleEndian}},
			{id: 3, abstract: secondaryCapture, syntaxes: []string{explicitVRLittleEndian, implicitVRLittleEndian}},
		},
		roles: []roleItem{{uid: secondaryCapture, scu: 1}},
	})
	echo := appendPData(nil, 1, true, true, encodeCommand(&command{field: cmdCEchoRQ, sopClass: verificationSOPClass, messageID: 1}))
	store := appendPData(nil, 3, true, true, encodeCommand(&command{field: cmdCStoreRQ, sopClass: secondaryCapture, sopInstance: "1.2.3", messageID: 2, hasDataSet: true}))
	store = appendPData(store, 3, false, false, []byte{0x08, 0, 0x18, 0, 'U', 'I', 6, 0})
	store = appendPData(store, 3, false, true, []byte("1.2.3\x00"))
	release := encodeShort(pduReleaseRQ, 0, 0, 0)
	conv := append(append(append(append([]byte{}, rq...), echo...), store...), release...)
	return [][]byte{rq, conv, append(append([]byte{}, rq...), encodeShort(pduAbort, 0, 0, 0)...)}
}

func FuzzDecodeAssoc(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s[6:])
	}
	if b, err := os.ReadFile("testdata/storescu-associate-rq.bin"); err == nil {
		f.Add(b[6:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range []byte{pduAssociateRQ, pduAssociateAC} {
			a, err := decodeAssoc(typ, b)
			if err == nil {
				// What decodes re-encodes, and decodes to the same.
				again, err := decodeAssoc(typ, encodeAssoc(typ, a)[6:])
				if err != nil || len(again.contexts) != len(a.contexts) || again.calling != a.calling {
					t.Fatalf("round trip: %v", err)
				}
			}
		}
	})
}

func FuzzDecodePData(f *testing.F) {
	f.Add(appendPData(nil, 1, true, true, []byte("abcd"))[6:])
	f.Add(append(appendPData(nil, 1, false, false, []byte("ab"))[6:], appendPData(nil, 3, false, true, nil)[6:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		pdvs, err := decodePData(b, nil)
		if err != nil {
			return
		}
		n := 0
		for _, p := range pdvs {
			n += 6 + len(p.data)
		}
		if n != len(b) {
			t.Fatalf("PDVs cover %d of %d bytes", n, len(b))
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(encodeCommand(&command{field: cmdCEchoRQ, sopClass: verificationSOPClass, messageID: 1}))
	f.Add(encodeCommand(&command{field: cmdCStoreRSP, sopClass: "1.2", sopInstance: "1.2.3", status: 0xA700, errorComment: "x"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			return
		}
		if _, err := decodeCommand(encodeCommand(c)); err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
	})
}

// FuzzServer feeds byte sequences to a Server over TCP as a requestor
// would: it must neither panic nor hang (the timers end every
// association, and it closes the connection).
func FuzzServer(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	srv := &Server{AETitle: "GATEWAY", AnyCallingAETitle: true, ARTIMTimeout: 50 * time.Millisecond, IdleTimeout: 50 * time.Millisecond,
		Handler: StoreFunc(func(ctx context.Context, req *StoreRequest) Status {
			_, _ = io.Copy(io.Discard, req.Data)
			return StatusSuccess
		})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			_, _ = c.Write(b)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("the server did not close the connection: %v", err)
		}
	})
}
