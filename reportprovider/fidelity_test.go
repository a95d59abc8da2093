package reportprovider_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// TestProviderClockAheadOfKHEOPS: KHEOPS checks a client assertion's iat
// with 60 s of leeway, so a provider whose clock runs ahead by more than
// that was locked out (invalid_request). iat is optional; the provider
// leaves it out and stays within KHEOPS's own exp limit (10 minutes).
func TestProviderClockAheadOfKHEOPS(t *testing.T) {
	t.Parallel()
	for _, ahead := range []time.Duration{61 * time.Second, 5 * time.Minute} {
		t.Run(ahead.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{mutate: func(o *reportprovider.Options) {
				now := o.Now
				o.Now = func() time.Time { return now().Add(ahead) }
			}})
			s, err := e.follow(e.launch(e.alice, e.clientID, study1))
			require.NoError(t, err)
			assert.Equal(t, []string{study1}, s.StudyUIDs)
		})
	}
}

// TestUIDsKHEOPSLaunches: KHEOPS launches any study UID that parses as an
// OID, leading-zero components and more than 64 characters included; the
// provider opens them, and its DICOMweb client reads them, while anything
// that is not digits and dots is still refused before it reaches a URL.
func TestUIDsKHEOPSLaunches(t *testing.T) {
	t.Parallel()
	long := "2.25.1234567890123456789012345678901234567890123456789012345678901234567890"
	require.Greater(t, len(long), 64)
	for _, uid := range []string{"1.2.03", "1.02.3.0004", long} {
		t.Run(uid, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			_, err := e.kheops.AddInstance(albumID, kheopstest.NewInstance(kheopstest.InstanceSpec{
				StudyUID: uid, SeriesUID: uid + ".1", SOPInstanceUID: uid + ".1.1", Modality: "MR"}))
			require.NoError(t, err)
			s, err := e.follow(e.launch(e.alice, e.clientID, uid))
			require.NoError(t, err)
			assert.Equal(t, []string{uid}, s.StudyUIDs)
			series, err := s.DICOMweb(&http.Client{Transport: e.transport}).SearchSeries(context.Background(), uid, nil)
			require.NoError(t, err)
			require.Len(t, series, 1)
			assert.Equal(t, uid+".1", series[0].String("0020000E"))
		})
	}
	for _, bad := range []string{"1.2.3/../x", "1.2.3?x=1", "1..2", "1.2.", "x.1", "1", "1.2.3 "} {
		_, err := reportprovider.ParseLaunch(url.Values{"code": {"c"}, "conf_uri": {"x"}, "client_id": {"c1"}, "studyUID": {bad}})
		assert.ErrorIs(t, err, reportprovider.ErrInvalidLaunch, "%q", bad)
		_, err = (&reportprovider.Session{DICOMwebEndpoint: "https://kheops.example/api"}).DICOMweb(nil).SearchSeries(context.Background(), bad, nil)
		assert.Error(t, err, "%q reached a URL", bad)
	}
}

// TestIssuerWithTrailingSlash: a KHEOPS whose root is configured with a
// trailing slash uses it verbatim (issuer "ROOT/", conf_uri and endpoints
// with "//api"). The provider matches issuers tolerantly of that slash,
// whichever way its allowlist spells the root, and still refuses other
// instances.
func TestIssuerWithTrailingSlash(t *testing.T) {
	t.Parallel()
	for _, spelling := range []string{"", "/"} {
		t.Run("allowlisted as ROOT"+spelling, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{kheops: []kheopstest.Option{kheopstest.WithTrailingSlashRoot()}, mutate: func(o *reportprovider.Options) {
				o.Issuers[0].URL += spelling
			}})
			launch := e.launch(e.alice, e.clientID, study1)
			require.Contains(t, launch, url.QueryEscape(e.kheops.URL+"//api/.well-known/report-provider-configuration"))
			s, err := e.follow(launch)
			require.NoError(t, err)
			assert.Equal(t, []string{study1}, s.StudyUIDs)
			assert.Equal(t, e.kheops.URL+"/albums/"+albumID, s.ReturnURI)
			series, err := s.DICOMweb(&http.Client{Transport: e.transport}).SearchSeries(context.Background(), study1, nil)
			require.NoError(t, err)
			assert.NotEmpty(t, series)

			before := e.rpOut.total()
			for _, conf := range []string{e.kheops.URL + "///api/.well-known/report-provider-configuration", e.kheops.URL + "/x/api/.well-known/report-provider-configuration"} {
				_, err = e.provider.Complete(context.Background(), &reportprovider.Launch{Flow: "code", Code: "c", ClientID: e.clientID, ConfURI: conf, StudyUIDs: []string{study1}})
				assert.ErrorIs(t, err, reportprovider.ErrUntrustedIssuer, conf)
			}
			assert.Equal(t, before, e.rpOut.total(), "refused before any request")
		})
	}
}
