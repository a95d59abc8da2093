package ohifbridge_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

// BenchmarkLaunchToFirstImage measures, against the fake KHEOPS on
// loopback, what a user waits for between the click in KHEOPS and the
// first image request OHIF can make: the launch (the bridge redeems the
// KHEOPS code, introspects it and asks userinfo), discovery, the
// authorization request, the token request, userinfo, and the DICOMweb
// requests OHIF makes up to the first image (QIDO studies and series,
// WADO-RS study metadata, WADO-RS retrieval of the first instance),
// through the proxy or to KHEOPS directly.
func BenchmarkLaunchToFirstImage(b *testing.B) {
	for _, mode := range bothModes {
		b.Run(mode.String(), func(b *testing.B) {
			w := newWorld(b, mode, nil)
			ctx := context.Background()
			root := w.dicomwebRoot()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// A study per launch: KHEOPS codes of one user and study
				// in one second are the same code (see world.launchURL).
				b.StopTimer()
				study := fmt.Sprintf("2.25.%d", 1000+i)
				_, err := w.kheops.AddInstance(w.album, kheopstest.NewInstance(kheopstest.InstanceSpec{
					StudyUID: study, SeriesUID: study + ".1", SOPInstanceUID: study + ".1.1"}))
				require.NoError(b, err)
				b.StartTimer()

				launchURL, err := w.kheops.Launch(ctx, w.user, w.client, study)
				require.NoError(b, err)
				resp := w.get(launchURL, "")
				require.Equal(b, http.StatusSeeOther, resp.StatusCode)
				c := w.newClient()
				code := c.code(location(b, resp).Query().Get("login_hint"))
				status, tok := c.redeem(code, c.verifier)
				require.Equal(b, http.StatusOK, status)
				at := tok["access_token"].(string)
				status, _ = c.userinfo(at)
				require.Equal(b, http.StatusOK, status)
				for _, p := range []string{"/studies", "/studies/" + study + "/series", "/studies/" + study + "/metadata",
					"/studies/" + study + "/series/" + study + ".1/instances/" + study + ".1.1"} {
					resp, body := w.dicomweb(http.MethodGet, root+p, at, "", nil)
					require.Equal(b, http.StatusOK, resp.StatusCode, body)
				}
			}
		})
	}
}
