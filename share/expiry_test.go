package share

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// yearOne are the spellings of the first instant of year 1, which Go
// parses to its zero time: the value Claims use for "never expires".
var yearOne = []string{"0001-01-01T00:00:00", "0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00Z"}

// TestYearOneExpiryIsRefusedWhenMinting: a date given to either API is
// range-checked; year 1 once minted a link that never expired.
func TestYearOneExpiryIsRefusedWhenMinting(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, date := range append(yearOne, "1969-12-31T23:59:59Z") {
		for _, req := range []struct{ path, body string }{
			{"/shares", `{"studies":[{"dicom-uid":"` + dA + `","orthanc-id":"` + oA + `"}],"type":"stone-viewer-publication","expiration-date":"` + date + `"}`},
			{"/shares", `{"studies":[{"dicom-uid":"` + dA + `","orthanc-id":"` + oA + `"}],"type":"stone-viewer-publication","expiration_date":"` + date + `"}`},
			{"/tokens/stone-viewer-publication", `{"resources":[{"dicom-uid":"` + dA + `","orthanc-id":"` + oA + `"}],"expiration-date":"` + date + `"}`},
			{"/tokens/stone-viewer-publication", `{"resources":[{"dicom-uid":"` + dA + `","orthanc-id":"` + oA + `"}],"expiration-date":"` + date + `","validity-duration":60}`},
		} {
			status, body := f.do(t, "PUT", req.path, req.body, nil)
			assert.Equal(t, http.StatusBadRequest, status, "%s %s: %s", req.path, date, body)
			assert.Contains(t, body, "outside 1970-9999", "%s %s", req.path, date)
			assert.NotContains(t, body, `"token"`, "%s %s", req.path, date)
		}
	}
	// The edges of the range still mint.
	for _, date := range []string{"1970-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00"} {
		status, body := f.do(t, "PUT", "/tokens/stone-viewer-publication", `{"resources":[{"dicom-uid":"`+dA+`"}],"expiration-date":"`+date+`"}`, nil)
		assert.Equal(t, http.StatusOK, status, "%s: %s", date, body)
	}
}

// TestYearOneExpiryIsDeniedWhenValidating: a token signed with our key
// whose expiration_date is year 1 (or whose exp claim lands on Go's zero
// time) is refused by Decode, by the plugin route and by the landing page.
func TestYearOneExpiryIsDeniedWhenValidating(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var tokens []string
	for _, date := range yearOne {
		tokens = append(tokens,
			signRaw(t, `{"id":null,"resources":[{"dicom_uid":"`+dA+`","orthanc_id":"`+oA+`","url":null,"level":"study"}],"type":"stone-viewer-publication","expiration_date":"`+date+`","validity_duration":null}`),
			signRaw(t, `{"id":null,"studies":[{"dicom_uid":"`+dA+`","orthanc_id":"`+oA+`"}],"anonymized":false,"type":"stone-viewer-publication","expiration-date":"`+date+`"}`),
			signRaw(t, `{"id":null,"dicom_uid":"`+dA+`","orthanc_id":"`+oA+`","type":"stone-viewer-publication","expiration_date":"`+date+`"}`))
	}
	// exp = -62135596800 is time.Unix of year 1: Go's zero time again.
	tokens = append(tokens, signRaw(t, `{"id":null,"resources":[{"dicom_uid":"`+dA+`","orthanc_id":"`+oA+`","url":null,"level":"study"}],"type":"stone-viewer-publication","expiration_date":null,"exp":-62135596800}`))
	for i, tok := range tokens {
		_, err := f.codec.Decode(tok)
		assert.ErrorIs(t, err, ErrMalformed, "token %d", i)
		d := f.svc.Check(context.Background(), Access{Method: "get", Level: LevelStudy, DicomUID: dA, OrthancID: oA, Token: tok})
		assert.False(t, d.Granted, "token %d: %+v", i, d)
		status, body := f.validate(t, plugin0114, "/tokens/validate", studyGet(tok, dA, oA))
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, `{"granted":false,"validity":60}`, body, "token %d", i)
		_, body = f.post(t, "/tokens/decode", `{"token-value":"`+tok+`"}`, nil)
		assert.Contains(t, body, `"error-code":"invalid"`, "token %d", i)
	}
	// The same payload without the year-1 date is granted: the test is
	// about the date, not the rest of the token.
	good := signRaw(t, `{"id":null,"resources":[{"dicom_uid":"`+dA+`","orthanc_id":"`+oA+`","url":null,"level":"study"}],"type":"stone-viewer-publication","expiration_date":null,"validity_duration":null}`)
	_, body := f.validate(t, plugin0114, "/tokens/validate", studyGet(good, dA, oA))
	assert.Equal(t, `{"granted":true,"validity":60}`, body)
}
