package dicomnet

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawConversation sends bytes to a server and returns the PDUs it answers
// until it closes the connection.
func rawConversation(t *testing.T, addr string, send []byte) (types []byte, bodies [][]byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(send)
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	for {
		typ, body, err := readPDU(c, nil, 1<<20)
		if err != nil {
			return types, bodies
		}
		types = append(types, typ)
		bodies = append(bodies, append([]byte(nil), body...))
		if typ == pduReleaseRP || typ == pduAbort || typ == pduAssociateRJ {
			return types, bodies
		}
	}
}

// TestRawConversation: the fuzz seed conversation (request, C-ECHO,
// C-STORE in two data fragments, release) gets the answers PS3.8 and
// PS3.7 prescribe, and the handler sees the dataset.
func TestRawConversation(t *testing.T) {
	var got []byte
	host, port := serve(t, &Server{AETitle: "GATEWAY", AnyCallingAETitle: true,
		Handler: StoreFunc(func(ctx context.Context, req *StoreRequest) Status {
			got, _ = io.ReadAll(req.Data)
			return StatusCoercion
		})})
	types, bodies := rawConversation(t, host+":"+portArg(port), fuzzSeeds()[1])
	require.Equal(t, []byte{pduAssociateAC, pduPData, pduPData, pduReleaseRP}, types)
	ac, err := decodeAssoc(pduAssociateAC, bodies[0])
	require.NoError(t, err)
	assert.Equal(t, []pcItem{
		{id: 1, result: pcAccepted, syntaxes: []string{implicitVRLittleEndian}},
		{id: 3, result: pcAccepted, syntaxes: []string{explicitVRLittleEndian}},
	}, ac.contexts)
	assert.Equal(t, []roleItem{{uid: secondaryCapture, scu: 1, scp: 0}}, ac.roles)
	assert.Equal(t, uint32(defaultMaxPDU), ac.maxLength)
	assert.Equal(t, implementationClassUID, ac.implClassUID)
	assert.Equal(t, implementationVersion, ac.implVersion)
	for i, want := range []*command{
		{field: cmdCEchoRSP, sopClass: verificationSOPClass, respondingTo: 1, status: StatusSuccess},
		{field: cmdCStoreRSP, sopClass: secondaryCapture, sopInstance: "1.2.3", respondingTo: 2, status: StatusCoercion},
	} {
		pdvs, err := decodePData(bodies[1+i], nil)
		require.NoError(t, err)
		require.Len(t, pdvs, 1)
		assert.True(t, pdvs[0].command && pdvs[0].last)
		assert.Equal(t, byte(2*i+1), pdvs[0].id)
		c, err := decodeCommand(pdvs[0].data)
		require.NoError(t, err)
		want.hasStatus, want.hasDataSetTyp = true, true
		assert.Equal(t, want, c)
	}
	assert.Equal(t, "\x08\x00\x18\x00UI\x06\x001.2.3\x00", string(got))
}

// TestNegotiation: each proposed context gets the result docs/dicom-network.md
// ("Negotiation") describes.
func TestNegotiation(t *testing.T) {
	const ct, mr = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"
	srv := &Server{AETitle: "GATEWAY", AnyCallingAETitle: true, SOPClasses: []string{ct, mr, secondaryCapture},
		TransferSyntaxes: []string{explicitVRLittleEndian, implicitVRLittleEndian},
		Handler:          StoreFunc(func(context.Context, *StoreRequest) Status { return StatusSuccess })}
	host, port := serve(t, srv)
	rq := encodeAssoc(pduAssociateRQ, &assocRQ{called: "GATEWAY", calling: "X", appContext: applicationContextName,
		contexts: []pcItem{
			{id: 1, abstract: verificationSOPClass, syntaxes: []string{"1.2.840.10008.1.2.2"}},
			{id: 3, abstract: ct, syntaxes: []string{implicitVRLittleEndian, explicitVRLittleEndian}},
			{id: 5, abstract: "1.2.840.10008.5.1.4.1.1.481.1", syntaxes: []string{implicitVRLittleEndian}},
			{id: 7, abstract: ct, syntaxes: []string{"1.2.840.10008.1.2.4.50"}},
			{id: 9, abstract: mr, syntaxes: []string{implicitVRLittleEndian}},
			{id: 11, abstract: "1.2.840.10008.5.1.4.1.2.2.1", syntaxes: []string{implicitVRLittleEndian}},
		},
		roles: []roleItem{{uid: mr, scu: 0, scp: 1}},
	})
	types, bodies := rawConversation(t, host+":"+portArg(port), append(rq, encodeShort(pduReleaseRQ, 0, 0, 0)...))
	require.Equal(t, []byte{pduAssociateAC, pduReleaseRP}, types)
	ac, err := decodeAssoc(pduAssociateAC, bodies[0])
	require.NoError(t, err)
	results := map[byte]byte{}
	syntax := map[byte]string{}
	for _, pc := range ac.contexts {
		results[pc.id] = pc.result
		syntax[pc.id] = pc.syntaxes[0]
	}
	assert.Equal(t, map[byte]byte{
		1:  pcAccepted,           // Verification, in any syntax
		3:  pcAccepted,           // the server's preference wins
		5:  pcAbstractNotSupport, // RT Image: not in SOPClasses
		7:  pcTransferNotSupport, // JPEG: not in TransferSyntaxes
		9:  pcUserRejection,      // the requestor refuses the SCU role
		11: pcAbstractNotSupport, // C-FIND: not a storage class
	}, results)
	assert.Equal(t, "1.2.840.10008.1.2.2", syntax[1])
	assert.Equal(t, explicitVRLittleEndian, syntax[3])
	assert.Empty(t, ac.roles)
}

// TestRejections: our SCU gets each A-ASSOCIATE-RJ as a *RejectError.
func TestRejections(t *testing.T) {
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"SCU"}, MaxAssociations: 1})
	addr := host + ":" + portArg(port)
	ctx := context.Background()
	for _, tc := range []struct {
		name            string
		calling, called string
		want            RejectError
	}{
		{"called", "SCU", "OTHER", RejectError{Permanent: true, Source: 1, Reason: 7}},
		{"calling", "STRANGER", "GATEWAY", RejectError{Permanent: true, Source: 1, Reason: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Dial(ctx, addr, DialOptions{CallingAETitle: tc.calling, CalledAETitle: tc.called})
			var rj *RejectError
			require.ErrorAs(t, err, &rj)
			assert.Equal(t, tc.want, *rj)
		})
	}
	first, err := Dial(ctx, addr, DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY"})
	require.NoError(t, err)
	_, err = Dial(ctx, addr, DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY"})
	var rj *RejectError
	require.ErrorAs(t, err, &rj, "a second association beyond MaxAssociations")
	assert.Equal(t, RejectError{Permanent: false, Source: 3, Reason: 2}, *rj)
	assert.Equal(t, "dicomnet: association rejected (transient): local limit exceeded", rj.Error())
	require.NoError(t, first.Release(ctx))
	require.Eventually(t, func() bool {
		a, err := Dial(ctx, addr, DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY"})
		if err == nil {
			a.Release(ctx)
		}
		return err == nil
	}, 5*time.Second, 20*time.Millisecond, "the slot is free again after the release")
}

// TestServerConfig: a server without an AE title, or with a bad one,
// refuses to serve.
func TestServerConfig(t *testing.T) {
	for _, srv := range []*Server{{}, {AETitle: "WAY TOO LONG AE TITLE"}, {AETitle: "A", CallingAETitles: []string{"B\\C"}}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		assert.ErrorContains(t, srv.Serve(ln), "dicomnet: Server.")
	}
}

// TestTimers: ARTIM closes a connection that sends no request; the idle
// timer ends an association that goes quiet.
func TestTimers(t *testing.T) {
	srv := &Server{AETitle: "GATEWAY", AnyCallingAETitle: true, ARTIMTimeout: 100 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}
	host, port := serve(t, srv)
	addr := host + ":" + portArg(port)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	assert.Less(t, time.Since(start), 2*time.Second)
	c.Close()

	ctx := context.Background()
	a, err := Dial(ctx, addr, DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY"})
	require.NoError(t, err)
	require.NoError(t, a.Echo(ctx))
	time.Sleep(500 * time.Millisecond)
	assert.ErrorIs(t, a.Echo(ctx), ErrAborted)
	assert.ErrorIs(t, a.Echo(ctx), ErrAborted, "an aborted association stays aborted")
}

// failingReader fails after n bytes.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	f.n -= len(p)
	return pattern{}.Read(p)
}

// dialSC serves h as GATEWAY to the calling AE title SCU and dials it
// with one presentation context: secondary capture in explicit VR little
// endian.
func dialSC(t *testing.T, h StoreHandler) *Association {
	t.Helper()
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"SCU"}, Handler: h})
	a, err := Dial(context.Background(), host+":"+portArg(port), DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY",
		Contexts: []PresentationContext{{AbstractSyntax: secondaryCapture, TransferSyntaxes: []string{explicitVRLittleEndian}}}})
	require.NoError(t, err)
	return a
}

// TestSCUAbortsMidDataset: when the dataset our SCU sends fails to read
// after 2 MiB, the SCU sends an A-ABORT; the server's handler sees
// ErrAborted and keeps nothing.
func TestSCUAbortsMidDataset(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	a := dialSC(t, v)
	disk := errors.New("disk on fire")
	_, err := a.Store(ctx, secondaryCapture, "1.2.3", explicitVRLittleEndian, &failingReader{n: 2 << 20, err: disk})
	assert.ErrorIs(t, err, disk)
	assert.ErrorIs(t, a.Echo(ctx), ErrAborted)
	c := v.only(t)
	assert.Empty(t, c.path)
	assert.ErrorIs(t, c.err, ErrAborted)
	assert.ErrorContains(t, c.err, "aborted by the peer (source 0, reason 0)")
}

// TestAbortInterruptsStore: Abort from another goroutine cuts a running
// Store.
func TestAbortInterruptsStore(t *testing.T) {
	v := newVault(t)
	v.started, v.gate = make(chan struct{}), make(chan struct{})
	ctx := context.Background()
	a := dialSC(t, v)
	done := make(chan error, 1)
	go func() {
		_, err := a.Store(ctx, secondaryCapture, "1.2.3", explicitVRLittleEndian, io.LimitReader(pattern{}, 256<<20))
		done <- err
	}()
	<-v.started
	require.NoError(t, a.Abort())
	close(v.gate)
	assert.ErrorIs(t, <-done, ErrAborted)
	assert.Empty(t, v.only(t).path)
}

// TestAbortWhileReadingData: Abort returns at once even when the running
// Store is blocked reading the caller's data, where no deadline reaches;
// the peer sees the association end, and the Store fails with ErrAborted
// once its Read returns.
func TestAbortWhileReadingData(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	a := dialSC(t, v)
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan error, 1)
	go func() {
		_, err := a.Store(ctx, secondaryCapture, "1.2.3", explicitVRLittleEndian, pr)
		done <- err
	}()
	_, err := pw.Write(make([]byte, 64<<10)) // the Store is running, now waiting for more
	require.NoError(t, err)
	aborted := make(chan error, 1)
	go func() { aborted <- a.Abort() }()
	select {
	case err := <-aborted:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Abort waits for the caller's reader")
	}
	c := v.only(t) // the server saw the association end
	assert.ErrorIs(t, c.err, ErrAborted)
	assert.Empty(t, c.path)
	_, _ = pw.Write(make([]byte, 64<<10)) // the Read returns; the next write fails
	pw.Close()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, ErrAborted)
	case <-time.After(10 * time.Second):
		t.Fatal("Store did not end after Abort")
	}
	assert.ErrorIs(t, a.Echo(ctx), ErrAborted, "an aborted association stays aborted")
}

// TestStoreErrors: no context for the syntax, and a failure status.
func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	a := dialSC(t, StoreFunc(func(ctx context.Context, req *StoreRequest) Status { return StatusOutOfResources }))
	_, err := a.Store(ctx, secondaryCapture, "1.2.3", implicitVRLittleEndian, io.LimitReader(pattern{}, 10))
	assert.ErrorIs(t, err, ErrNoContext)
	st, err := a.Store(ctx, secondaryCapture, "1.2.3", explicitVRLittleEndian, io.LimitReader(pattern{}, 10))
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, StatusOutOfResources, st)
	assert.Equal(t, "dicomnet: peer answered 0xA700 (out of resources)", se.Error())
	require.NoError(t, a.Echo(ctx), "the association survives a failure status")
	require.NoError(t, a.Release(ctx))
	assert.ErrorIs(t, a.Echo(ctx), ErrAborted)
}

// TestShutdown waits for a released association, and aborts one that
// outlives its context.
func TestShutdown(t *testing.T) {
	srv := &Server{AETitle: "GATEWAY", AnyCallingAETitle: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	ctx := context.Background()
	a, err := Dial(ctx, ln.Addr().String(), DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY"})
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, srv.Shutdown(short), context.DeadlineExceeded)
	err = a.Echo(ctx)
	assert.ErrorIs(t, err, ErrAborted)
	assert.ErrorContains(t, err, "aborted by the peer (source 0, reason 0)")
	_, err = Dial(ctx, ln.Addr().String(), DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY"})
	assert.Error(t, err, "no longer listening")
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		s       Status
		failure bool
		str     string
	}{
		{StatusSuccess, false, "0x0000 (success)"},
		{StatusCoercion, false, "0xB000 (warning: coercion of data elements)"},
		{0xB007, false, "0xB007 (warning)"},
		{0xFF00, false, "0xFF00 (pending)"},
		{StatusCannotUnderstand, true, "0xC000 (cannot understand)"},
		{0xC123, true, "0xC123 (failure)"},
		{0x0122, true, "0x0122 (SOP class not supported)"},
	} {
		assert.Equal(t, tc.failure, tc.s.Failure(), tc.str)
		assert.Equal(t, tc.str, tc.s.String())
	}
}

// TestDialChecks: bad AE titles, too many contexts and a non-Part 10
// file fail before anything reaches the peer.
func TestDialChecks(t *testing.T) {
	host, port := serve(t, &Server{AETitle: "GATEWAY", AnyCallingAETitle: true})
	addr := host + ":" + portArg(port)
	ctx := context.Background()
	many := make([]PresentationContext, 128)
	for i := range many {
		many[i] = PresentationContext{AbstractSyntax: secondaryCapture, TransferSyntaxes: []string{explicitVRLittleEndian}}
	}
	for name, o := range map[string]DialOptions{
		"no calling AE":     {CalledAETitle: "GATEWAY"},
		"long called AE":    {CallingAETitle: "SCU", CalledAETitle: "SEVENTEEN_LETTERS"},
		"too many":          {CallingAETitle: "SCU", CalledAETitle: "GATEWAY", Contexts: many},
		"no syntax":         {CallingAETitle: "SCU", CalledAETitle: "GATEWAY", Contexts: []PresentationContext{{AbstractSyntax: secondaryCapture}}},
		"control character": {CallingAETitle: "SC\nU", CalledAETitle: "GATEWAY"},
	} {
		_, err := Dial(ctx, addr, o)
		assert.ErrorContains(t, err, "dicomnet: ", name)
	}
	a, err := Dial(ctx, addr, DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY", Contexts: many[:127]})
	require.NoError(t, err, "127 contexts and Verification")
	_, err = a.StoreFile(ctx, strings.NewReader("not DICOM"))
	assert.ErrorContains(t, err, "not a DICOM Part 10 file")
	require.NoError(t, a.Echo(ctx))
	require.NoError(t, a.Release(ctx))
}
