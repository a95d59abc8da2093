// Package auraenv reads the Aura credentials of the example programs
// (upload, gateway) from the environment, the one place where they are
// accepted: AURA_API_KEY and either AURA_UPLOAD_TOKEN or AURA_APP_ID with
// AURA_APP_SECRET.
package auraenv

import (
	"strings"

	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Vars documents the variables for a program's usage text.
var Vars = []cli.Var{
	{Name: "AURA_API_URL", Help: "default for -api"},
	{Name: "AURA_API_KEY", Help: "the service API key, aura_au_… (required)"},
	{Name: "AURA_UPLOAD_TOKEN", Help: "an upload token, aubt_…, from your backend; or:"},
	{Name: "AURA_APP_ID", Help: "the app's HMAC key id, aura_pk_…, exchanged for a token with"},
	{Name: "AURA_APP_SECRET", Help: "the app's HMAC secret, aura_sk_…"},
}

// Tokens returns the upload token source the environment describes: the
// token given, or an HMAC exchange with the app's key against api. A
// missing or malformed variable is a *cli.UsageError saying what to set.
func Tokens(api string, getenv func(string) string) (uploadtoken.Source, error) {
	key, tok, appID, secret := getenv("AURA_API_KEY"), getenv("AURA_UPLOAD_TOKEN"), getenv("AURA_APP_ID"), getenv("AURA_APP_SECRET")
	switch {
	case key == "":
		return nil, &cli.UsageError{Msg: "AURA_API_KEY is not set", Hint: "set it to the service API key (aura_au_…) in the environment"}
	case tok != "":
		if !strings.HasPrefix(tok, uploadtoken.Prefix) {
			return nil, &cli.UsageError{Msg: "AURA_UPLOAD_TOKEN must start with 'aubt_'", Hint: "use the token your backend returned"}
		}
		return uploadtoken.StaticSource(&uploadtoken.Token{Value: tok}), nil
	case appID != "" && secret != "":
		c := &uploadtoken.Client{BaseURL: api, APIKey: key, Signer: &hmac.Signer{AppID: appID, Secret: secret}}
		return c.Source(uploadtoken.ExchangeRequest{}), nil
	}
	return nil, &cli.UsageError{Msg: "no upload token", Hint: "set AURA_UPLOAD_TOKEN, or AURA_APP_ID and AURA_APP_SECRET, in the environment"}
}
