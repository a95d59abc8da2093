package deid

import (
	"context"
	"errors"
	"io"
)

func (p *Profile) apply(ctx context.Context, dst io.Writer, src io.Reader) (*Result, error) {
	return nil, errors.New("deid: not implemented yet")
}

func (p *Profile) method() string { return "" }

// Edition is the edition of DICOM PS3.15 and PS3.6 the profile's table
// and dictionary were generated from.
const Edition = "2024b"
