package dicomnet

import (
	"bytes"
	"fmt"
	"io"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// writePart10 writes a File Meta group for req, then copies req.Data.
func writePart10(w io.Writer, req *StoreRequest) (int64, error) {
	meta, err := metaBytes(dicomio.Meta{
		MediaStorageSOPClassUID:    req.SOPClassUID,
		MediaStorageSOPInstanceUID: req.SOPInstanceUID,
		TransferSyntaxUID:          req.TransferSyntaxUID,
		ImplementationClassUID:     implementationClassUID,
		ImplementationVersionName:  implementationVersion,
		SourceApplicationEntity:    req.CallingAETitle,
	})
	if err != nil {
		return 0, err
	}
	n, err := w.Write(meta)
	if err != nil {
		return int64(n), err
	}
	m, err := io.Copy(w, req.Data)
	return int64(n) + m, err
}

// metaBytes returns the preamble, "DICM" and File Meta group of m as
// dicomio writes them, for any transfer syntax: dicomio refuses to write
// big endian datasets, but here the dataset is copied as received, so the
// group is written for explicit VR little endian, whose UID has the same
// length, and the UID is then replaced.
func metaBytes(m dicomio.Meta) ([]byte, error) {
	ts := m.TransferSyntaxUID
	big := ts == dicomio.ExplicitVRBigEndian
	if big {
		m.TransferSyntaxUID = dicomio.ExplicitVRLittleEndian
	}
	var buf bytes.Buffer
	if err := dicomio.NewWriter(&buf).WriteMeta(m); err != nil {
		return nil, fmt.Errorf("dicomnet: file meta information: %w", err)
	}
	b := buf.Bytes()
	if big {
		el := append([]byte{0x02, 0x00, 0x10, 0x00, 'U', 'I', 20, 0}, dicomio.ExplicitVRLittleEndian+"\x00"...)
		i := bytes.Index(b, el)
		if i < 0 {
			return nil, fmt.Errorf("dicomnet: file meta information: transfer syntax element not found")
		}
		copy(b[i+8:], ts)
	}
	return b, nil
}
