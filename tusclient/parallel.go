package tusclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// minPartSize is the smallest partial upload worth a request of its own.
const minPartSize = 1 << 20

// parallelParts returns how many partial uploads to use: 1 unless
// ParallelUploads asks for more, the source is an io.ReaderAt, the server
// offers concatenation and the data is large enough.
func (u *Upload) parallelParts(caps serverCaps) int {
	n := u.c.cfg.ParallelUploads
	if n <= 1 || u.ra == nil || !caps.Has(extConcatenation) {
		return 1
	}
	if most := u.declared / minPartSize; int64(n) > most {
		n = int(most)
	}
	return max(n, 1)
}

// runParallel uploads n partial uploads at once and concatenates them.
func (u *Upload) runParallel(ctx context.Context, caps serverCaps, algo string, n int) error {
	u.mu.Lock()
	fresh := u.parts == nil
	if fresh {
		partLen := (u.declared + int64(n) - 1) / int64(n)
		for i := range n {
			start := int64(i) * partLen
			length := min(partLen, u.declared-start)
			u.parts = append(u.parts, &part{
				src:     &readerAtSource{ra: u.ra, base: start, size: length},
				partial: true,
				start:   start,
				size:    length,
			})
		}
	}
	parts := u.parts
	u.mu.Unlock()

	if fresh && u.opts.Store != nil && u.opts.Fingerprint != "" {
		if err := u.loadParallel(ctx, parts); err != nil {
			return err
		}
	}
	u.mu.Lock()
	final := u.finalURL
	u.mu.Unlock()
	if final != "" {
		ok, err := u.finalDone(ctx, final)
		if err != nil || ok {
			return err
		}
		u.mu.Lock()
		u.finalURL = ""
		u.mu.Unlock()
	}

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		if p.complete() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := u.transfer(pctx, p, caps, algo, false); err != nil {
				errs[i] = fmt.Errorf("tusclient: part %d (bytes %d-%d): %w", i, p.start, p.start+p.size-1, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tusclient: %w", err)
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return u.concat(ctx, parts)
}

// loadParallel takes part URLs (and the final URL) from a matching record.
func (u *Upload) loadParallel(ctx context.Context, parts []*part) error {
	rec, ok, err := u.opts.Store.Get(ctx, u.opts.Fingerprint)
	if err != nil {
		return fmt.Errorf("tusclient: reading resume record: %w", err)
	}
	if !ok || rec.Endpoint != u.c.endpoint.String() || rec.Size != u.declared || len(rec.Parts) != len(parts) {
		return nil
	}
	for i, pr := range rec.Parts {
		if pr.Start != parts[i].start || pr.Length != parts[i].size {
			return nil
		}
	}
	for _, raw := range append([]string{rec.URL}, urlsOf(rec.Parts)...) {
		if raw == "" {
			continue
		}
		if _, err := u.c.checkURL(raw); err != nil {
			return err
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.finalURL = rec.URL
	for i, pr := range rec.Parts {
		if pr.URL != "" {
			parts[i].url = pr.URL
			parts[i].maxSent = -1
			parts[i].needSync = true
		}
	}
	return nil
}

func urlsOf(ps []PartRecord) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.URL
	}
	return out
}

// finalDone reports whether the final upload at url is complete. A final
// upload the server no longer knows yields false, so it is made again.
func (u *Upload) finalDone(ctx context.Context, url string) (bool, error) {
	var done bool
	err := u.c.retrying(ctx, func() error {
		resp, err := u.c.roundTrip(ctx, &request{method: http.MethodHead, url: url})
		if err != nil {
			return err
		}
		switch resp.status {
		case http.StatusNotFound, http.StatusGone:
			return nil
		case http.StatusOK, http.StatusNoContent:
		default:
			return resp.err()
		}
		off, err := resp.offset()
		if err != nil {
			return err
		}
		done = off == u.declared
		return nil
	})
	if done && u.opts.OnCreated != nil {
		u.opts.OnCreated(url)
	}
	return done, err
}

// concat creates the final upload from the parts.
func (u *Upload) concat(ctx context.Context, parts []*part) error {
	var b strings.Builder
	b.WriteString("final;")
	u.mu.Lock()
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.url)
	}
	u.mu.Unlock()
	h := map[string]string{hUploadConcat: b.String()}
	if u.meta != "" {
		h[hUploadMetadata] = u.meta
	}
	var loc string
	err := u.c.retrying(ctx, func() error {
		req := &request{method: http.MethodPost, url: u.c.endpoint.String(), header: h}
		resp, err := u.c.roundTrip(ctx, req)
		if err != nil {
			return err
		}
		if resp.status != http.StatusCreated {
			return resp.err()
		}
		loc, err = u.c.resolveLocation(req.url, resp.header.Get("Location"))
		return err
	})
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.finalURL = loc
	u.mu.Unlock()
	if err := u.save(ctx); err != nil {
		return err
	}
	if u.opts.OnCreated != nil {
		u.opts.OnCreated(loc)
	}
	return nil
}
