package dicomnet

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// The upper layer protocol data units (see docs/dicom-network.md, "PDUs").
const (
	pduAssociateRQ = 0x01
	pduAssociateAC = 0x02
	pduAssociateRJ = 0x03
	pduPData       = 0x04
	pduReleaseRQ   = 0x05
	pduReleaseRP   = 0x06
	pduAbort       = 0x07
)

// Items of the variable part of A-ASSOCIATE-RQ/AC.
const (
	itemApplicationContext = 0x10
	itemContextRQ          = 0x20
	itemContextAC          = 0x21
	itemAbstractSyntax     = 0x30
	itemTransferSyntax     = 0x40
	itemUserInfo           = 0x50
	itemMaxLength          = 0x51
	itemImplClassUID       = 0x52
	itemRoleSelection      = 0x54
	itemImplVersion        = 0x55
)

const (
	applicationContextName = "1.2.840.10008.3.1.1.1"
	verificationSOPClass   = "1.2.840.10008.1.1"
	implicitVRLittleEndian = "1.2.840.10008.1.2"
	explicitVRLittleEndian = "1.2.840.10008.1.2.1"
	// implementationClassUID and implementationVersion identify this
	// package to peers (and in the Part 10 files it writes).
	implementationClassUID = "1.2.826.0.1.3680043.10.1"
	implementationVersion  = "DICOMBRIDGE"
)

const (
	// maxAssociatePDU bounds the A-ASSOCIATE-RQ/AC read: 128 contexts
	// with many transfer syntaxes fit well within it.
	maxAssociatePDU = 256 << 10
	// defaultMaxPDU is the largest P-DATA-TF variable field this side
	// accepts (announced in the maximum length item) and the largest it
	// sends when the peer announces no limit.
	defaultMaxPDU = 256 << 10
	// minPeerPDU is the smallest maximum length honoured; below it the
	// fragments would be absurdly small.
	minPeerPDU = 1024
)

// pduHeaderLen is the type, a reserved byte and the 4-byte length.
const pduHeaderLen = 6

// readPDU reads one PDU into buf (grown as needed) and returns its type and
// body. A body longer than limit fails with errTooLong before it is read.
func readPDU(r io.Reader, buf []byte, limit uint32) (typ byte, body []byte, err error) {
	var h [pduHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, buf, err
	}
	n := binary.BigEndian.Uint32(h[2:])
	if n > limit {
		return h[0], buf, fmt.Errorf("%w: PDU type %#02x of %d bytes, at most %d accepted", ErrProtocol, h[0], n, limit)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	body = buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, body, err
	}
	return h[0], body, nil
}

// appendPDUHeader appends a PDU header for a body of n bytes.
func appendPDUHeader(dst []byte, typ byte, n int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, typ, 0), uint32(n))
}

// assocRQ is the content of an A-ASSOCIATE-RQ or -AC.
type assocRQ struct {
	called, calling string
	appContext      string
	contexts        []pcItem
	maxLength       uint32 // 0: no limit
	implClassUID    string
	implVersion     string
	roles           []roleItem
}

// pcItem is a presentation context item: proposed (RQ: abstract syntax and
// transfer syntaxes) or answered (AC: result and one transfer syntax).
type pcItem struct {
	id       byte
	result   byte // AC only: 0 acceptance, 1 user rejection, 2 no reason, 3 abstract syntax, 4 transfer syntaxes not supported
	abstract string
	syntaxes []string
}

// roleItem is an SCP/SCU role selection sub-item.
type roleItem struct {
	uid      string
	scu, scp byte
}

// Presentation context results of the A-ASSOCIATE-AC.
const (
	pcAccepted           = 0
	pcUserRejection      = 1
	pcAbstractNotSupport = 3
	pcTransferNotSupport = 4
)

// encodeAssoc encodes an A-ASSOCIATE-RQ (typ 1) or -AC (typ 2) PDU.
func encodeAssoc(typ byte, a *assocRQ) []byte {
	b := make([]byte, 0, 512)
	b = appendPDUHeader(b, typ, 0)
	b = append(b, 0, 1, 0, 0) // protocol version 1, reserved
	b = append(b, aeField(a.called)...)
	b = append(b, aeField(a.calling)...)
	b = append(b, make([]byte, 32)...)
	b = appendItem(b, itemApplicationContext, []byte(a.appContext))
	for _, pc := range a.contexts {
		start := len(b)
		if typ == pduAssociateRQ {
			b = append(b, itemContextRQ, 0, 0, 0, pc.id, 0, 0, 0)
			b = appendItem(b, itemAbstractSyntax, []byte(pc.abstract))
		} else {
			b = append(b, itemContextAC, 0, 0, 0, pc.id, 0, pc.result, 0)
		}
		for _, ts := range pc.syntaxes {
			b = appendItem(b, itemTransferSyntax, []byte(ts))
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start-4))
	}
	start := len(b)
	b = append(b, itemUserInfo, 0, 0, 0)
	b = appendItem(b, itemMaxLength, binary.BigEndian.AppendUint32(nil, a.maxLength))
	b = appendItem(b, itemImplClassUID, []byte(a.implClassUID))
	for _, r := range a.roles {
		v := binary.BigEndian.AppendUint16(nil, uint16(len(r.uid)))
		v = append(append(v, r.uid...), r.scu, r.scp)
		b = appendItem(b, itemRoleSelection, v)
	}
	if a.implVersion != "" {
		b = appendItem(b, itemImplVersion, []byte(a.implVersion))
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start-4))
	binary.BigEndian.PutUint32(b[2:], uint32(len(b)-pduHeaderLen))
	return b
}

func appendItem(b []byte, typ byte, v []byte) []byte {
	b = append(b, typ, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// aeField pads an AE title with spaces to the 16 bytes of its field.
func aeField(ae string) []byte {
	f := []byte("                ")
	copy(f, ae)
	return f
}

// trimAE returns an AE title field without its padding; leading and
// trailing spaces are not significant (PS3.5, AE).
func trimAE(b []byte) string { return strings.TrimSpace(strings.TrimRight(string(b), "\x00")) }

// trimUID returns a UID value without its NUL padding.
func trimUID(b []byte) string { return strings.TrimRight(string(b), "\x00 ") }

// items iterates over the items of b (type, reserved, 2-byte length).
func items(b []byte, f func(typ byte, v []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("%w: truncated item header", ErrProtocol)
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+n {
			return fmt.Errorf("%w: item %#02x of %d bytes overruns its PDU", ErrProtocol, b[0], n)
		}
		if err := f(b[0], b[4:4+n]); err != nil {
			return err
		}
		b = b[4+n:]
	}
	return nil
}

// decodeAssoc decodes the body of an A-ASSOCIATE-RQ or -AC.
func decodeAssoc(typ byte, body []byte) (*assocRQ, error) {
	if len(body) < 68 {
		return nil, fmt.Errorf("%w: A-ASSOCIATE PDU of %d bytes", ErrProtocol, len(body))
	}
	a := &assocRQ{called: trimAE(body[4:20]), calling: trimAE(body[20:36])}
	if binary.BigEndian.Uint16(body)&1 == 0 {
		return a, errVersion
	}
	seen := map[byte]bool{}
	err := items(body[68:], func(t byte, v []byte) error {
		switch t {
		case itemApplicationContext:
			a.appContext = trimUID(v)
		case itemContextRQ, itemContextAC:
			if t != typ+0x1F { // 0x20 in an RQ, 0x21 in an AC
				return fmt.Errorf("%w: presentation context item %#02x in PDU type %d", ErrProtocol, t, typ)
			}
			if len(v) < 4 {
				return fmt.Errorf("%w: short presentation context item", ErrProtocol)
			}
			pc := pcItem{id: v[0], result: v[2]}
			if seen[pc.id] {
				return fmt.Errorf("%w: presentation context %d twice", ErrProtocol, pc.id)
			}
			seen[pc.id] = true
			err := items(v[4:], func(st byte, sv []byte) error {
				switch st {
				case itemAbstractSyntax:
					pc.abstract = trimUID(sv)
				case itemTransferSyntax:
					if len(pc.syntaxes) >= 64 {
						return fmt.Errorf("%w: more than 64 transfer syntaxes in a context", ErrProtocol)
					}
					pc.syntaxes = append(pc.syntaxes, trimUID(sv))
				}
				return nil
			})
			if err != nil {
				return err
			}
			a.contexts = append(a.contexts, pc)
		case itemUserInfo:
			return items(v, func(st byte, sv []byte) error {
				switch st {
				case itemMaxLength:
					if len(sv) != 4 {
						return fmt.Errorf("%w: maximum length item of %d bytes", ErrProtocol, len(sv))
					}
					a.maxLength = binary.BigEndian.Uint32(sv)
				case itemImplClassUID:
					a.implClassUID = trimUID(sv)
				case itemImplVersion:
					a.implVersion = strings.TrimSpace(string(sv))
				case itemRoleSelection:
					if len(sv) < 2 {
						return fmt.Errorf("%w: short role selection item", ErrProtocol)
					}
					n := int(binary.BigEndian.Uint16(sv))
					if len(sv) != 2+n+2 {
						return fmt.Errorf("%w: role selection item of %d bytes", ErrProtocol, len(sv))
					}
					if len(a.roles) < 256 {
						a.roles = append(a.roles, roleItem{uid: trimUID(sv[2 : 2+n]), scu: sv[2+n], scp: sv[3+n]})
					}
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return a, err
	}
	if a.appContext == "" {
		return a, fmt.Errorf("%w: no application context item", ErrProtocol)
	}
	return a, nil
}

// errVersion is a protocol version without bit 0 set (version 1).
var errVersion = fmt.Errorf("%w: protocol version not supported", ErrProtocol)

// encodeShort encodes the 4-byte-body PDUs: A-ASSOCIATE-RJ (result,
// source, reason), A-RELEASE-RQ/RP (zeros) and A-ABORT (source, reason in
// the last two bytes).
func encodeShort(typ byte, b1, b2, b3 byte) []byte {
	return append(appendPDUHeader(nil, typ, 4), 0, b1, b2, b3)
}

// pdv is one presentation data value of a P-DATA-TF PDU.
type pdv struct {
	id      byte
	command bool
	last    bool
	data    []byte
}

// decodePData returns the PDVs of a P-DATA-TF body, aliasing it.
func decodePData(body []byte, dst []pdv) ([]pdv, error) {
	dst = dst[:0]
	for len(body) > 0 {
		if len(body) < 6 {
			return dst, fmt.Errorf("%w: truncated PDV item", ErrProtocol)
		}
		n := binary.BigEndian.Uint32(body)
		if n < 2 || uint64(n) > uint64(len(body)-4) {
			return dst, fmt.Errorf("%w: PDV item of %d bytes in %d", ErrProtocol, n, len(body)-4)
		}
		mch := body[5]
		dst = append(dst, pdv{id: body[4], command: mch&1 == 1, last: mch&2 == 2, data: body[6 : 4+n]})
		body = body[4+n:]
	}
	if len(dst) == 0 {
		return dst, fmt.Errorf("%w: P-DATA-TF without PDV", ErrProtocol)
	}
	return dst, nil
}

// appendPData appends a P-DATA-TF PDU of one PDV.
func appendPData(dst []byte, id byte, command, last bool, data []byte) []byte {
	dst = appendPDUHeader(dst, pduPData, 6+len(data))
	dst = binary.BigEndian.AppendUint32(dst, uint32(2+len(data)))
	var mch byte
	if command {
		mch |= 1
	}
	if last {
		mch |= 2
	}
	return append(append(dst, id, mch), data...)
}
