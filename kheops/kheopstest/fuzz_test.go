package kheopstest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/reportprovider"
)

func FuzzReadHeader(f *testing.F) {
	f.Add(NewInstance(InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1", PatientName: "A^B"}))
	seq := NewInstance(InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1"})
	seq = append(seq, 0x08, 0x00, 0x40, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
		0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0)
	f.Add(seq)
	f.Add(make([]byte, 132))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readHeader(data)
		if err != nil {
			return
		}
		for tag, e := range h.elems {
			require.Falsef(t, len(e.value) > maxKeptValue, "tag %08X kept %d bytes", tag, len(e.value))
			_, _ = jsonAttribute(e)
		}
		if _, err := json.Marshal(h.dicomJSON()); err != nil {
			t.Fatalf("unmarshalable DICOM JSON: %v", err)
		}
	})
}

// FuzzConfigurationAgreement checks the promise of
// reportprovider.Configuration.Validate: a configuration it accepts is,
// once published by reportprovider.New (which fills in the code flow's auth
// method and algorithm), one KHEOPS (as this fake models it) accepts too.
func FuzzConfigurationAgreement(f *testing.F) {
	f.Add([]byte(`{"redirect_uri":"https://rp.example/r","response_type":"code","token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"RS256","jwks_uri":"https://rp.example/k"}`), "https://rp.example/c")
	f.Add([]byte(`{"redirect_uri":"https://rp.example/r","response_type":"code","jwks_uri":"https://rp.example/k"}`), "https://rp.example/c")
	f.Add([]byte(`{"redirect_uri":"https://rp.example/r|x","response_type":"token"}`), "https://rp.example/c")
	f.Add([]byte(`{"redirect_uri":"https://rp.example/r","response_type":"token","Redirect_URI":"x"}`), "https://rp.example/c")
	f.Fuzz(func(t *testing.T, data []byte, confURL string) {
		var rc reportprovider.Configuration
		if json.Unmarshal(data, &rc) != nil {
			return
		}
		if err := rc.Validate(confURL); err != nil {
			require.ErrorIsf(t, err, reportprovider.ErrInvalidConfiguration, "unexpected error type %v", err)
			return
		}
		if rc.ResponseType == reportprovider.ResponseTypeCode {
			rc.TokenEndpointAuthMethod, rc.TokenEndpointAuthSigningAlg = "private_key_jwt", "RS256"
		}
		published, err := json.Marshal(rc)
		require.NoError(t, err)
		var c providerConfig
		if err := json.Unmarshal(published, &c); err != nil {
			t.Fatalf("accepted by reportprovider, not JSON for KHEOPS: %v", err)
		}
		if err := c.validate(confURL, false); err != nil {
			t.Fatalf("accepted by reportprovider, refused by KHEOPS: %v", err)
		}
	})
}
