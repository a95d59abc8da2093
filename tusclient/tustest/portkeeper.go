package tustest

import (
	"net"
	"sync"
)

// portKeeper holds the server's TCP port for its whole life, across Stop
// and Start. Releasing the port on Stop would let another server (another
// test running in parallel) take it while this one is down, and a client
// retrying against the old address would then talk to the wrong server.
// While stopped, connections are accepted and closed at once: to a client
// that is the same failure as a crashed server.
type portKeeper struct {
	ln net.Listener

	mu  sync.Mutex // guards cur
	cur *gate      // the running server's listener; nil while stopped
}

func newPortKeeper(ln net.Listener) *portKeeper {
	k := &portKeeper{ln: ln}
	go k.loop()
	return k
}

// loop hands accepted connections to the running server, until Close.
func (k *portKeeper) loop() {
	for {
		c, err := k.ln.Accept()
		if err != nil {
			k.mu.Lock()
			if k.cur != nil {
				k.cur.close()
			}
			k.mu.Unlock()
			return
		}
		k.mu.Lock()
		g := k.cur
		k.mu.Unlock()
		if g == nil {
			_ = c.Close()
			continue
		}
		select {
		case g.conns <- c:
		case <-g.done:
			_ = c.Close()
		}
	}
}

// open returns a new listener for a server starting now.
func (k *portKeeper) open() net.Listener {
	g := &gate{conns: make(chan net.Conn), done: make(chan struct{}), addr: k.ln.Addr()}
	k.mu.Lock()
	k.cur = g
	k.mu.Unlock()
	return g
}

// pause stops handing connections to the current server.
func (k *portKeeper) pause() {
	k.mu.Lock()
	k.cur = nil
	k.mu.Unlock()
}

// Close releases the port for good.
func (k *portKeeper) Close() error { return k.ln.Close() }

// gate is the net.Listener one http.Server serves on.
type gate struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (g *gate) Accept() (net.Conn, error) {
	select {
	case c := <-g.conns:
		return c, nil
	case <-g.done:
		return nil, net.ErrClosed
	}
}

func (g *gate) close()         { g.once.Do(func() { close(g.done) }) }
func (g *gate) Close() error   { g.close(); return nil }
func (g *gate) Addr() net.Addr { return g.addr }
