package dicomnet

import (
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from a real DCMTK peer")

// unhex decodes hex written with spaces and newlines.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

// TestEncodeAssociateRQ checks an A-ASSOCIATE-RQ byte for byte against the
// layout of docs/dicom-network.md, "PDUs", written out by hand.
func TestEncodeAssociateRQ(t *testing.T) {
	got := encodeAssoc(pduAssociateRQ, &assocRQ{
		called: "SCP", calling: "SCU", appContext: applicationContextName,
		contexts:     []pcItem{{id: 1, abstract: verificationSOPClass, syntaxes: []string{implicitVRLittleEndian}}},
		maxLength:    16384,
		implClassUID: "1.2.3",
		implVersion:  "V1",
		roles:        []roleItem{{uid: "1.2", scu: 1, scp: 0}},
	})
	want := unhex(t, `
		01 00 000000b5
		0001 0000
		53435020202020202020202020202020
		53435520202020202020202020202020
		0000000000000000000000000000000000000000000000000000000000000000
		10 00 0015 312e322e3834302e31303030382e332e312e312e31
		20 00 002e 01 00 00 00
		   30 00 0011 312e322e3834302e31303030382e312e31
		   40 00 0011 312e322e3834302e31303030382e312e32
		50 00 0022
		   51 00 0004 00004000
		   52 00 0005 312e322e33
		   54 00 0007 0003 312e32 01 00
		   55 00 0002 5631`)
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
	back, err := decodeAssoc(pduAssociateRQ, got[6:])
	require.NoError(t, err)
	assert.Equal(t, &assocRQ{
		called: "SCP", calling: "SCU", appContext: applicationContextName,
		contexts:  []pcItem{{id: 1, abstract: verificationSOPClass, syntaxes: []string{implicitVRLittleEndian}}},
		maxLength: 16384, implClassUID: "1.2.3", implVersion: "V1",
		roles: []roleItem{{uid: "1.2", scu: 1, scp: 0}},
	}, back)
}

// TestEncodeCommand checks a C-ECHO-RQ and a C-STORE-RSP byte for byte
// (implicit VR little endian, group length first).
func TestEncodeCommand(t *testing.T) {
	echo := encodeCommand(&command{field: cmdCEchoRQ, sopClass: verificationSOPClass, messageID: 7})
	assert.Equal(t, hex.EncodeToString(unhex(t, `
		00000000 04000000 38000000
		00000200 12000000 312e322e3834302e31303030382e312e3100
		00000001 02000000 3000
		00001001 02000000 0700
		00000008 02000000 0101`)), hex.EncodeToString(echo))
	rsp := encodeCommand(&command{field: cmdCStoreRSP, sopClass: "1.2", sopInstance: "1.2.3", respondingTo: 7, status: StatusOutOfResources, errorComment: "full"})
	assert.Equal(t, hex.EncodeToString(unhex(t, `
		00000000 04000000 4e000000
		00000200 04000000 312e3200
		00000001 02000000 0180
		00002001 02000000 0700
		00000008 02000000 0101
		00000009 02000000 00a7
		00000209 04000000 66756c6c
		00000010 06000000 312e322e3300`)), hex.EncodeToString(rsp))
	c, err := decodeCommand(rsp)
	require.NoError(t, err)
	assert.Equal(t, &command{field: cmdCStoreRSP, sopClass: "1.2", sopInstance: "1.2.3", respondingTo: 7,
		status: StatusOutOfResources, errorComment: "full", hasStatus: true, hasDataSetTyp: true}, c)
}

// TestDecodeDCMTKAssociateRQ decodes the A-ASSOCIATE-RQ that DCMTK's
// storescu sent (testdata/storescu-associate-rq.bin, recorded with
// -update).
func TestDecodeDCMTKAssociateRQ(t *testing.T) {
	golden := filepath.Join("testdata", "storescu-associate-rq.bin")
	if *update {
		recordStorescuRQ(t, golden)
	}
	b, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, byte(pduAssociateRQ), b[0])
	rq, err := decodeAssoc(pduAssociateRQ, b[6:])
	require.NoError(t, err)
	assert.Equal(t, "GATEWAY", rq.called)
	assert.Equal(t, "STORESCU", rq.calling)
	assert.Equal(t, applicationContextName, rq.appContext)
	assert.Equal(t, uint32(16384), rq.maxLength)
	assert.True(t, strings.HasPrefix(rq.implClassUID, "1.2.276.0.7230010.3."), rq.implClassUID)
	assert.True(t, strings.HasPrefix(rq.implVersion, "OFFIS_DCMTK_"), rq.implVersion)
	require.NotEmpty(t, rq.contexts)
	for i, pc := range rq.contexts {
		assert.Equal(t, byte(2*i+1), pc.id)
		assert.NotEmpty(t, pc.abstract)
		assert.NotEmpty(t, pc.syntaxes)
	}
}

// recordStorescuRQ records the first PDU storescu sends.
func recordStorescuRQ(t *testing.T, golden string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		typ, body, err := readPDU(c, nil, maxAssociatePDU)
		if err != nil {
			got <- nil
			return
		}
		got <- append(appendPDUHeader(nil, typ, len(body)), body...)
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	_, _ = dcmtk(t, "echoscu", "-aet", "STORESCU", "-aec", "GATEWAY", "127.0.0.1", fmt.Sprint(port))
	b := <-got
	require.NotNil(t, b)
	require.NoError(t, os.WriteFile(golden, b, 0o644))
}

// TestDecodeErrors: malformed PDUs and commands are ErrProtocol, never a
// panic.
func TestDecodeErrors(t *testing.T) {
	good := encodeAssoc(pduAssociateRQ, &assocRQ{called: "A", calling: "B", appContext: applicationContextName,
		contexts: []pcItem{{id: 1, abstract: "1.2", syntaxes: []string{"1.2.3"}}}})[6:]
	for name, b := range map[string][]byte{
		"short":                  good[:60],
		"item overrun":           append(append([]byte{}, good[:68]...), 0x10, 0, 0xff, 0xff),
		"no application context": good[:68],
		"duplicate context":      append(append([]byte{}, good...), 0x20, 0, 0, 4, 1, 0, 0, 0),
		"AC item in an RQ":       append(append([]byte{}, good[:68]...), 0x21, 0, 0, 4, 1, 0, 0, 0),
		"bad max length":         append(append([]byte{}, good...), 0x50, 0, 0, 7, 0x51, 0, 0, 3, 1, 2, 3),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeAssoc(pduAssociateRQ, b)
			assert.ErrorIs(t, err, ErrProtocol)
		})
	}
	_, err := decodeAssoc(pduAssociateRQ, append([]byte{0, 2}, good[2:]...))
	assert.ErrorIs(t, err, errVersion)
	for name, b := range map[string][]byte{
		"empty":            {},
		"short PDV":        {0, 0, 0, 1, 1},
		"PDV overrun":      {0, 0, 0, 9, 1, 3, 0},
		"PDV length below": {0, 0, 0, 1, 1, 3},
	} {
		t.Run("P-DATA "+name, func(t *testing.T) {
			_, err := decodePData(b, nil)
			assert.ErrorIs(t, err, ErrProtocol)
		})
	}
	for name, b := range map[string][]byte{
		"no data set type":  encodeCommand(&command{field: cmdCEchoRQ})[:len(encodeCommand(&command{field: cmdCEchoRQ}))-10],
		"not group 0000":    unhex(t, "08001800 02000000 3100"),
		"odd US":            unhex(t, "00000001 03000000 300000"),
		"truncated element": unhex(t, "00000001 08000000 3000"),
		"undefined length":  unhex(t, "00000001 ffffffff"),
	} {
		t.Run("command "+name, func(t *testing.T) {
			_, err := decodeCommand(b)
			assert.ErrorIs(t, err, ErrProtocol)
		})
	}
}
