package reportprovider

import (
	"context"
	"net"
)

// ParseConfiguration lets the external conformance tests check a provider
// configuration document the way New does.
var ParseConfiguration = parseConfiguration

// NewWithResolver is New with the resolver the non-public address check
// uses, so that tests can simulate DNS answers.
func NewWithResolver(o Options, r interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}) (*Provider, error) {
	return newProvider(o, r)
}
