package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// An open-loop load generator: requests are due on a fixed schedule
// (start + i/rate), whatever the server does, and each latency is measured
// from the request's scheduled time to the end of its response. When the
// server (or the connection pool) falls behind, requests wait in a queue
// and that wait counts, so a slow server cannot hide behind a generator
// that politely slows down (coordinated omission).
//
// Each of the conns connections is one goroutine with one request in
// flight (HTTP/1.1 keep-alive, no pipelining, like the authorization
// plugin's HTTP client). Requests are raw bytes written on the socket and
// responses are parsed minimally, so that the generator costs far less CPU
// than the servers it measures.

// loadResult is the outcome of one open-loop run.
type loadResult struct {
	Offered   float64         // requests per second scheduled
	Achieved  float64         // responses per second completed in the window
	Sent      int             // requests scheduled in the measurement window
	Completed int             // of those, answered before the run ended
	Errors    int             // wrong status or body, connection errors
	Latencies []time.Duration // completed requests, sorted
	Lag       []time.Duration // dispatch lag (scheduled -> written), sorted
}

func (r *loadResult) quantile(q float64) time.Duration { return quantile(r.Latencies, q) }

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d)) + 0.5)
	return d[min(max(i-1, 0), len(d)-1)]
}

// sustained reports whether the server kept up: nearly everything
// scheduled was answered within the run.
func (r *loadResult) sustained() bool {
	return r.Errors == 0 && r.Completed >= r.Sent*99/100
}

// runOpenLoop offers rate requests per second to addr for warmup+window,
// over conns connections, and waits up to drain after the last scheduled
// request. want is the exact response body every answer must have.
//
// There is no dispatcher: each connection atomically claims the next slot
// of the schedule (start + i/rate), sleeps if that time has not come yet,
// sends, and measures from the slot's time. When every connection is busy,
// slots fall due unclaimed and wait: that wait is in the latency. At any
// rate the generator costs one atomic add and one write/read per request.
func runOpenLoop(addr string, request, want []byte, rate float64, conns int, warmup, window, drain time.Duration) (*loadResult, error) {
	interval := float64(time.Second) / rate
	total := int64((warmup + window).Seconds() * rate)
	warm := int64(warmup.Seconds() * rate)
	slot := func(start time.Time, i int64) time.Time { return start.Add(time.Duration(float64(i) * interval)) }

	type sample struct {
		lat, lag time.Duration
		done     time.Time
		measure  bool
	}
	var (
		next    atomic.Int64
		mu      sync.Mutex // guards samples, errs
		samples []sample
		errs    int
	)
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			for _, c := range cs[:i] {
				c.Close()
			}
			return nil, err
		}
		cs[i] = c
	}
	start := time.Now().Add(10 * time.Millisecond)
	end := slot(start, total)
	deadline := end.Add(drain)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			br := bufio.NewReaderSize(c, 4096)
			local := make([]sample, 0, int(total)/conns+16)
			localErrs := 0
			defer func() {
				mu.Lock()
				samples = append(samples, local...)
				errs += localErrs
				mu.Unlock()
			}()
			_ = c.SetDeadline(deadline)
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				at := slot(start, i)
				if d := time.Until(at); d > 0 {
					sleepPrecise(d)
				}
				written := time.Now()
				if written.After(deadline) {
					return
				}
				if _, err := c.Write(request); err != nil {
					localErrs++
					return
				}
				body, err := readResponse(br)
				done := time.Now()
				if err != nil {
					if !done.Before(deadline) {
						return // cut off by the end of the run, not an error
					}
					localErrs++
					return
				}
				if !bytes.Equal(body, want) {
					localErrs++
					continue
				}
				local = append(local, sample{done.Sub(at), written.Sub(at), done, i >= warm})
			}
		}()
	}
	wg.Wait()

	r := &loadResult{Offered: rate, Sent: int(total - warm), Errors: errs}
	winStart := slot(start, warm)
	inWindow := 0
	for _, s := range samples {
		if s.measure {
			r.Latencies = append(r.Latencies, s.lat)
			r.Lag = append(r.Lag, s.lag)
		}
		if !s.done.Before(winStart) && s.done.Before(end) {
			inWindow++
		}
	}
	r.Completed = len(r.Latencies)
	slices.Sort(r.Latencies)
	slices.Sort(r.Lag)
	// Throughput is what the server completed during the window, whatever
	// was offered.
	r.Achieved = float64(inWindow) / end.Sub(winStart).Seconds()
	return r, nil
}

var errResponse = errors.New("loadgen: bad response")

// readResponse reads one HTTP/1.1 response with a Content-Length body and
// returns the body if the status is 200.
func readResponse(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	ok := len(line) >= 12 && string(line[9:12]) == "200"
	n := -1
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && (h[0] == 'C' || h[0] == 'c') && bytes.EqualFold(h[:15], []byte("Content-Length:")) {
			n, err = strconv.Atoi(string(bytes.TrimSpace(h[15:])))
			if err != nil {
				return nil, fmt.Errorf("%w: Content-Length", errResponse)
			}
		}
	}
	if n < 0 || n > 1<<16 {
		return nil, fmt.Errorf("%w: no Content-Length", errResponse)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, err
	}
	if !ok {
		return body, fmt.Errorf("%w: %q", errResponse, bytes.TrimSpace(line))
	}
	return body, nil
}

// sleepPrecise sleeps for d with the precision of nanosleep(2) (tens of
// microseconds) rather than the runtime timer's, which can oversleep by
// about a millisecond when the runtime is idle (golang/go#44343) and
// would then be counted as latency. The goroutine's thread blocks in the
// system call; the runtime runs other goroutines on other threads.
func sleepPrecise(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var rem syscall.Timespec
		if err := syscall.Nanosleep(&ts, &rem); err != syscall.EINTR {
			return
		}
		ts = rem
	}
}
