package tustest

import (
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// ProxyOptions configures a [FaultProxy]. Byte budgets are drawn uniformly
// from [min, max) for every connection; a max of 0 leaves that direction
// uncut.
type ProxyOptions struct {
	// Seed seeds the random budgets; 0 picks one from the clock. The seed is
	// logged so a failing run can be replayed.
	Seed uint64
	// Up bounds ({min, max}) the client-to-server bytes a connection may
	// carry before it is cut (mid-request, usually mid-body).
	Up [2]int64
	// Down bounds ({min, max}) the server-to-client bytes before a cut
	// (mid-response: the server did the work, the client never hears).
	Down [2]int64
	// MaxCuts stops cutting after this many cuts (0: no limit), so a test
	// is sure to finish.
	MaxCuts int
}

// FaultProxy is a TCP proxy on 127.0.0.1 that cuts connections after
// random, seeded byte counts in either direction. Every cut is logged with
// its connection number and byte count. It is safe for concurrent use.
type FaultProxy struct {
	addr   string
	t      testing.TB
	target string
	opts   ProxyOptions
	ln     net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex // guards rng, conns, cuts, n, closed
	rng   *rand.Rand
	conns map[net.Conn]struct{}
	cuts  int
	n     int
	close bool
}

// NewFaultProxy starts a proxy on 127.0.0.1 to target (a server's URL, or
// host:port) and closes it when the test ends.
func NewFaultProxy(t testing.TB, target string, opts ProxyOptions) *FaultProxy {
	t.Helper()
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		target = u.Host
	}
	if opts.Seed == 0 {
		opts.Seed = uint64(time.Now().UnixNano())
	}
	t.Logf("tustest: fault proxy seed %d (up %d-%d, down %d-%d, max cuts %d)",
		opts.Seed, opts.Up[0], opts.Up[1], opts.Down[0], opts.Down[1], opts.MaxCuts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tustest: proxy listen: %v", err)
	}
	p := &FaultProxy{
		addr: ln.Addr().String(), t: t, target: target, opts: opts, ln: ln,
		rng:   rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		conns: map[net.Conn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL rewrites an http URL's host to the proxy's.
func (p *FaultProxy) URL(u string) string {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return u
	}
	_, path, _ := strings.Cut(rest, "/")
	return "http://" + p.addr + "/" + path
}

// Cuts returns how many connections were cut so far.
func (p *FaultProxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// Close stops the proxy and closes every connection.
func (p *FaultProxy) Close() {
	p.mu.Lock()
	if p.close {
		p.mu.Unlock()
		return
	}
	p.close = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *FaultProxy) budget(min, max int64) int64 {
	if max <= 0 {
		return -1
	}
	if max <= min {
		return min
	}
	return min + p.rng.Int64N(max-min)
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *FaultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.close {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *FaultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *FaultProxy) handle(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client) || !p.track(server) {
		client.Close()
		server.Close()
		return
	}
	defer p.untrack(client)
	defer p.untrack(server)
	p.mu.Lock()
	p.n++
	id := p.n
	cutting := p.opts.MaxCuts == 0 || p.cuts < p.opts.MaxCuts
	up, down := int64(-1), int64(-1)
	if cutting {
		up = p.budget(p.opts.Up[0], p.opts.Up[1])
		down = p.budget(p.opts.Down[0], p.opts.Down[1])
	}
	p.mu.Unlock()

	var once sync.Once
	cut := func(dir string, n int64) {
		once.Do(func() {
			p.mu.Lock()
			over := p.opts.MaxCuts > 0 && p.cuts >= p.opts.MaxCuts
			if !over {
				p.cuts++
			}
			p.mu.Unlock()
			if !over {
				p.t.Logf("tustest: fault proxy cut connection %d after %d bytes %s", id, n, dir)
			}
		})
		client.Close()
		server.Close()
	}
	done := make(chan struct{}, 2)
	go func() {
		p.pipe(server, client, up, func(n int64) { cut("client→server", n) })
		done <- struct{}{}
	}()
	p.pipe(client, server, down, func(n int64) { cut("server→client", n) })
	<-done
}

// pipe copies src to dst; after budget bytes (if budget ≥ 0) it calls cut.
// When src ends, both connections close.
func (p *FaultProxy) pipe(dst, src net.Conn, budget int64, cut func(int64)) {
	var r io.Reader = src
	if budget >= 0 {
		r = io.LimitReader(src, budget)
	}
	n, err := io.Copy(dst, r)
	if budget >= 0 && n == budget && err == nil {
		cut(n)
		return
	}
	// The source ended or broke: end both sides, as a proxy would.
	src.Close()
	dst.Close()
}
