package nbd

import (
	"context"
	"sync"
)

// budget accounts the request data a server holds in memory, across all
// its connections: a write's payload from the moment it is read off the
// socket until the backend has it, a read's data from the moment it is
// allocated until the reply is sent. A connection takes a request's share
// before it reads the request's payload (or allocates its read buffer), and
// waits while the share would pass the limit: it stops reading its socket,
// and TCP (or the Unix socket's buffer) holds the client back.
//
// Waiters are served first come, first served: a large request is not
// starved by a stream of small ones. No share is larger than the limit
// (the server advertises and enforces a maximum block size no larger), so
// every waiter is eventually served as shares are given back.
type budget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	peak    int64 // the most ever used at once
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when the share is granted
}

func newBudget(limit int64) *budget { return &budget{limit: limit} }

// acquire takes n bytes (at most the limit), waiting for them if need be.
// It returns ctx's error, having taken nothing, if ctx ends first.
func (b *budget) acquire(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.take(n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready:
		// Granted meanwhile: give it back.
		b.used -= n
	default:
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
	}
	// The waiters behind this one may fit now.
	b.grant()
	return ctx.Err()
}

// release gives back n bytes taken by acquire.
func (b *budget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.grant()
	b.mu.Unlock()
}

// take accounts n bytes; b.mu is held.
func (b *budget) take(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

// grant serves the waiters, in order, while the first fits; b.mu is held.
func (b *budget) grant() {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if b.used+w.n > b.limit {
			return
		}
		b.take(w.n)
		close(w.ready)
		b.waiters[0] = nil
		b.waiters = b.waiters[1:]
	}
}

// stats returns the bytes taken now and the most ever taken at once.
func (b *budget) stats() (used, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}
