package ohifbridge_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/ohifbridge"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// TestNewRefusesUnsafeOrAmbiguousOptions: every refusal names the field.
func TestNewRefusesUnsafeOrAmbiguousOptions(t *testing.T) {
	t.Parallel()
	rpKey, idKey := testKeys(t)
	valid := func() ohifbridge.Options {
		return ohifbridge.Options{
			Issuer: "https://bridge.example/oidc",
			Provider: reportprovider.Options{
				ConfigurationURL: "https://bridge.example/kheops/configuration",
				Configuration: reportprovider.Configuration{
					RedirectURI:  "https://bridge.example/kheops/launch",
					ResponseType: reportprovider.ResponseTypeCode,
					JWKSURI:      "https://bridge.example/kheops/jwks",
				},
				Keys:    []*reportprovider.Key{rpKey},
				Issuers: []reportprovider.Issuer{{URL: "https://kheops.example"}},
			},
			Client: ohifbridge.Client{
				ID:           "ohif-viewer",
				LoginURL:     "https://ohif.example/login",
				RedirectURIs: []string{"https://ohif.example/callback"},
			},
			SigningKey: idKey,
		}
	}
	b, err := ohifbridge.New(valid())
	require.NoError(t, err)
	assert.Equal(t, "ohifbridge.Bridge{issuer=https://bridge.example/oidc client_id=ohif-viewer mode=proxy}", b.String())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.Equal(t, b.String(), fmt.Sprintf(verb, b), verb)
	}

	for name, c := range map[string]struct {
		edit func(*ohifbridge.Options)
		want string
	}{
		"no issuer":            {func(o *ohifbridge.Options) { o.Issuer = "" }, "Issuer"},
		"http issuer":          {func(o *ohifbridge.Options) { o.Issuer = "http://bridge.example/oidc" }, "set AllowHTTP"},
		"issuer with a query":  {func(o *ohifbridge.Options) { o.Issuer = "https://bridge.example/oidc?x=1" }, "query"},
		"issuer with fragment": {func(o *ohifbridge.Options) { o.Issuer = "https://bridge.example/oidc#x" }, "fragment"},
		"no client id":         {func(o *ohifbridge.Options) { o.Client.ID = "" }, "Client.ID"},
		"no redirect URIs":     {func(o *ohifbridge.Options) { o.Client.RedirectURIs = nil }, "RedirectURIs"},
		"http redirect URI":    {func(o *ohifbridge.Options) { o.Client.RedirectURIs = []string{"http://ohif.example/callback"} }, "set AllowHTTP"},
		"viewer elsewhere":     {func(o *ohifbridge.Options) { o.Client.ViewerURL = "https://evil.example/viewer" }, "ViewerURL"},
		"implicit provider": {func(o *ohifbridge.Options) {
			o.Provider.Configuration.ResponseType = reportprovider.ResponseTypeToken
		}, "code flow"},
		"unknown mode":   {func(o *ohifbridge.Options) { o.Mode = 7 }, "mode"},
		"short lifetime": {func(o *ohifbridge.Options) { o.AccessTokenLifetime = 1 }, "AccessTokenLifetime"},
		"launch on token": {func(o *ohifbridge.Options) {
			o.Provider.Configuration.RedirectURI = "https://bridge.example/oidc/token"
		}, "two endpoints"},
		"launch on proxy": {func(o *ohifbridge.Options) {
			o.Provider.Configuration.RedirectURI = "https://bridge.example/oidc/dicomweb/x"
		}, "two endpoints"},
		"shared doc paths": {func(o *ohifbridge.Options) { o.Provider.Configuration.JWKSURI = o.Provider.ConfigurationURL }, "distinct paths"},
	} {
		o := valid()
		c.edit(&o)
		_, err := ohifbridge.New(o)
		if assert.Error(t, err, name) {
			assert.Contains(t, err.Error(), c.want, name)
			assert.True(t, strings.HasPrefix(err.Error(), "ohifbridge: ") || strings.HasPrefix(err.Error(), "reportprovider: "), name)
		}
	}
}
