package dicomnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/dicomgen"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pki is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, also written as PEM files for DCMTK.
type pki struct {
	pool                  *x509.CertPool
	server, client        tls.Certificate
	caPEM, keyPEM, crtPEM string // the client's files
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dicomnet test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	p := &pki{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	leaf := func(serial int64, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "dicomnet test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		crtPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		cert, err := tls.X509KeyPair(crtPEM, keyPEM)
		require.NoError(t, err)
		return cert, crtPEM, keyPEM
	}
	p.server, _, _ = leaf(2, x509.ExtKeyUsageServerAuth)
	var crt, key []byte
	p.client, crt, key = leaf(3, x509.ExtKeyUsageClientAuth)
	p.caPEM, p.crtPEM, p.keyPEM = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	require.NoError(t, os.WriteFile(p.caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	require.NoError(t, os.WriteFile(p.crtPEM, crt, 0o600))
	require.NoError(t, os.WriteFile(p.keyPEM, key, 0o600))
	return p
}

// TestTLS: a server requiring client certificates serves our SCU and
// DCMTK's echoscu and storescu over TLS, and refuses a peer without a
// certificate.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	v := newVault(t)
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"SCU", "STORESCU"}, Handler: v,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert}})
	addr := host + ":" + portArg(port)
	files, err := dicomgen.Write(context.Background(), t.TempDir(), dicomgen.Options{})
	require.NoError(t, err)

	ctx := context.Background()
	opts := DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY",
		Contexts:  []PresentationContext{{AbstractSyntax: files[0].SOPClassUID, TransferSyntaxes: []string{files[0].TransferSyntaxUID}}},
		TLSConfig: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}}}
	a, err := Dial(ctx, addr, opts)
	require.NoError(t, err)
	require.NoError(t, a.Echo(ctx))
	f, err := os.Open(files[0].Path)
	require.NoError(t, err)
	defer f.Close()
	_, err = a.StoreFile(ctx, f)
	require.NoError(t, err)
	require.NoError(t, a.Release(ctx))

	opts.TLSConfig = &tls.Config{RootCAs: p.pool}
	_, err = Dial(ctx, addr, opts)
	assert.Error(t, err, "no client certificate")
	opts.TLSConfig = nil
	_, err = Dial(ctx, addr, opts)
	assert.Error(t, err, "plain TCP to a TLS port")

	out, err := dcmtk(t, "echoscu", "+tls", p.keyPEM, p.crtPEM, "+cf", p.caPEM, "-aet", "STORESCU", "-aec", "GATEWAY", host, portArg(port))
	require.NoError(t, err, out)
	out, err = dcmtk(t, "storescu", "+tls", p.keyPEM, p.crtPEM, "+cf", p.caPEM, "-aet", "STORESCU", "-aec", "GATEWAY", host, portArg(port), files[0].Path)
	require.NoError(t, err, out)
	out, err = dcmtk(t, "echoscu", "+tla", "+cf", p.caPEM, "-aet", "STORESCU", "-aec", "GATEWAY", host, portArg(port))
	assert.Error(t, err, "echoscu without a certificate: %s", out)

	calls := v.Calls()
	require.Len(t, calls, 2)
	_, _, _, want := datasetPart(t, files[0].Path)
	for _, c := range calls {
		_, _, _, got := datasetPart(t, c.path)
		assert.True(t, string(want) == string(got))
	}
}
