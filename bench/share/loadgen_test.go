package main

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestOpenLoopCountsQueueing checks that the generator is open loop: a
// server that needs 10 ms per request, behind one connection, offered 200
// requests/s (twice its capacity), must show latencies far above 10 ms
// because queued requests keep their scheduled times. A closed-loop
// generator would report about 10 ms.
func TestOpenLoopCountsQueueing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(10 * time.Millisecond)
		w.Write(answer)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	req := []byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")

	slow, err := runOpenLoop(ln.Addr().String(), req, answer, 200, 1, 0, time.Second, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p99 := slow.quantile(0.99); p99 < 200*time.Millisecond {
		t.Errorf("overloaded p99 = %v; queueing delay not counted", p99)
	}
	if slow.Achieved > 110 {
		t.Errorf("achieved %.0f/s from a server that can do 100/s", slow.Achieved)
	}
	easy, err := runOpenLoop(ln.Addr().String(), req, answer, 20, 1, 0, time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !easy.sustained() || easy.quantile(0.5) < 10*time.Millisecond || easy.quantile(0.5) > 60*time.Millisecond {
		t.Errorf("under capacity: sustained=%v p50=%v", easy.sustained(), easy.quantile(0.5))
	}
	// A wrong answer is an error, not a sample.
	bad, _ := runOpenLoop(ln.Addr().String(), req, []byte("nope"), 20, 1, 0, 200*time.Millisecond, time.Second)
	if bad.Errors == 0 || bad.sustained() {
		t.Errorf("wrong bodies not counted: %+v", bad.Errors)
	}
}
