package nbd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// conn is the transmission phase of one connection.
type conn struct {
	s        *Server
	ctx      context.Context
	exp      *Export
	maxBlock uint32
	w        *sock
	wmu      sync.Mutex
	err      error       // first write error
	failed   atomic.Bool // err is set (read without wmu, which a write holds)
	hdr      [16]byte

	// The request reader's role, taken by one worker at a time (see
	// transmit): rmu is held while a worker reads a request.
	rmu     sync.Mutex
	r       *bufio.Reader
	stopped bool  // rmu: no more requests are read
	result  error // rmu: what transmit returns
	started int   // rmu: workers started
	workers int   // the most workers
	waiting atomic.Int32
	wg      sync.WaitGroup

	// The connection's share of the server's budget: what its requests
	// in flight hold, and the most they may (see transmit).
	hmu   sync.Mutex
	held  int64
	share int64
	freed chan struct{} // a token when held goes down
}

// transmit reads requests and serves them, up to Workers at once, until
// NBD_CMD_DISCONNECT or an error. Before it reads a request's data (or a
// read's data is allocated), it takes the request's share of the
// server's in-flight budget, waiting for it if need be: while it waits it
// does not read the socket, and the client is held back.
//
// One connection holds at most half the budget (its share; no request is
// larger, see Server.maxBlock): a client that sends reads and leaves the replies
// unread holds what it holds until ReplyTimeout, but it cannot leave the
// other connections nothing, and it waits for its own requests, not at
// the head of the server's queue.
//
// Requests are served by the connection's workers, goroutines that take
// turns at reading (leader and followers): a worker reads one request,
// hands the reading to the next worker, and serves the request itself:
// its read goes into the buffer the reply is written from, and it writes
// the reply. No request crosses goroutines in the server (the backend's
// own hand-offs, the AoE engine's, are all there is), and no goroutine is
// made per request: a worker is started only when a request is read and
// no other worker waits to read the next one (up to Workers), so a
// connection has as many as the client keeps requests in flight. Serving
// requests in the reading goroutine alone was tried: it serves one at a
// time (the kernel's nbd driver sends the next request a little later;
// fio at QD32 on one connection got the IOPS of QD1).
func (s *Server) transmit(ctx context.Context, exp *Export, r *bufio.Reader, w *sock) error {
	c := &conn{s: s, ctx: ctx, exp: exp, maxBlock: s.maxBlock(exp), w: w, r: r, freed: make(chan struct{}, 1)}
	c.share = max(s.budget.limit/2, int64(c.maxBlock))
	c.workers = s.Workers
	if c.workers <= 0 {
		c.workers = 32
	}
	c.started = 1
	c.wg.Add(1)
	c.work()
	c.wg.Wait()
	if errors.Is(c.result, errDisconnect) {
		// The requests before NBD_CMD_DISCONNECT are answered: the
		// outcome is their replies'.
		return c.writeErr()
	}
	if errors.Is(c.result, errClosed) {
		return nil
	}
	return c.result
}

// errDisconnect and errClosed end the reading: NBD_CMD_DISCONNECT, and a
// client that closed the connection without it.
var (
	errDisconnect = errors.New("nbd: disconnect")
	errClosed     = errors.New("nbd: closed by the client")
)

// next reads the next request (with a write's payload), having taken its
// share of the budget; rmu is held. It fails at the end of the
// connection (errDisconnect, errClosed),
// on a write error, or when the server's context ends.
func (c *conn) next() (request, []byte, int64, error) {
	for {
		if c.failed.Load() {
			return request{}, nil, 0, c.writeErr()
		}
		req, err := readRequest(c.r)
		if err != nil {
			if errors.Is(err, io.EOF) && c.ctx.Err() == nil {
				err = errClosed // without NBD_CMD_DISCONNECT
			}
			return request{}, nil, 0, err
		}
		if req.typ == cmdDisc {
			return request{}, nil, 0, errDisconnect
		}
		if req.typ == cmdWrite && req.length > c.maxBlock {
			// Too big to buffer: skip the data and refuse.
			if _, err := io.CopyN(io.Discard, c.r, int64(req.length)); err != nil {
				return request{}, nil, 0, err
			}
			c.reply(req, errInval, nil)
			continue
		}
		cost := c.cost(req)
		if err := c.acquire(c.ctx, cost); err != nil {
			return request{}, nil, 0, err
		}
		var data []byte
		if req.typ == cmdWrite {
			data = getBuf(int(req.length))
			if _, err := io.ReadFull(c.r, data); err != nil {
				putBuf(data)
				c.release(cost)
				return request{}, nil, 0, err
			}
		}
		return req, data, cost, nil
	}
}

// work is one worker: it reads a request when its turn comes, and serves
// it, until the connection ends.
func (c *conn) work() {
	defer c.wg.Done()
	for {
		c.waiting.Add(1)
		c.rmu.Lock()
		c.waiting.Add(-1)
		if c.stopped {
			c.rmu.Unlock()
			return
		}
		req, data, cost, err := c.next()
		if err != nil {
			c.stopped = true
			c.result = err
			c.rmu.Unlock()
			return
		}
		if c.waiting.Load() == 0 && c.started < c.workers {
			// Nobody to read the next request while this one is
			// served: one more worker.
			c.started++
			c.wg.Add(1)
			go c.work()
		}
		c.rmu.Unlock()
		c.run(req, data, cost)
	}
}

// run serves req (with data, a write's payload), replies, and gives back
// the budget it took (cost) and its buffers.
func (c *conn) run(req request, data []byte, cost int64) {
	errno, payload := c.serve(req, data)
	putBuf(data)
	if req.typ == cmdWrite {
		// The backend has the data: the 16-byte reply need not hold
		// the budget while the client takes it.
		c.release(cost)
		cost = 0
	}
	c.reply(req, errno, payload)
	putBuf(payload)
	c.release(cost)
}

// cost is the memory req holds while in flight: the data of a read or a
// write the server accepts (no more than maxBlock, so no more than the
// whole budget).
func (c *conn) cost(req request) int64 {
	if (req.typ == cmdRead || req.typ == cmdWrite) && req.length <= c.maxBlock {
		return int64(req.length)
	}
	return 0
}

// acquire takes n bytes for a request of this connection: from its share,
// waiting for its own requests to give some back if need be, then from
// the server's budget. It fails only when ctx ends.
func (c *conn) acquire(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	for {
		c.hmu.Lock()
		ok := c.held == 0 || c.held+n <= c.share
		if ok {
			c.held += n
		}
		c.hmu.Unlock()
		if ok {
			break
		}
		select {
		case <-c.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := c.s.budget.acquire(ctx, n); err != nil {
		c.unhold(n)
		return err
	}
	return nil
}

// release gives back n bytes taken by acquire.
func (c *conn) release(n int64) {
	if n <= 0 {
		return
	}
	c.s.budget.release(n)
	c.unhold(n)
}

func (c *conn) unhold(n int64) {
	c.hmu.Lock()
	c.held -= n
	c.hmu.Unlock()
	select {
	case c.freed <- struct{}{}:
	default:
	}
}

func (c *conn) writeErr() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.err
}

// reply writes a simple reply, with the data of a successful read.
func (c *conn) reply(req request, errno uint32, payload []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.err != nil {
		return
	}
	hdr := simpleReply(&c.hdr, errno, req.cookie)
	if errno != 0 || req.typ != cmdRead {
		payload = nil
	}
	c.err = c.w.write(hdr, payload)
	c.failed.Store(c.err != nil)
}

// serve runs one request and returns the reply's error value and data.
func (c *conn) serve(req request, data []byte) (uint32, []byte) {
	exp := c.exp
	end := req.offset + uint64(req.length)
	switch req.typ {
	case cmdRead:
		if req.flags&^uint16(cmdFlagFUA) != 0 {
			return errInval, nil
		}
		if req.length > c.maxBlock {
			return errOverflow, nil
		}
		if end > uint64(exp.Size) || end < req.offset {
			return errInval, nil
		}
		buf := getBuf(int(req.length))
		if _, err := exp.Backend.ReadAt(buf, int64(req.offset)); err != nil && !(errors.Is(err, io.EOF) && end == uint64(exp.Size)) {
			c.s.log(slog.LevelError, fmt.Sprintf("nbd: read of %d bytes at %d: %v", req.length, req.offset, err),
				"offset", req.offset, "length", req.length, "err", err)
			putBuf(buf)
			return errIO, nil
		}
		return 0, buf
	case cmdWrite:
		switch {
		case req.flags&^uint16(cmdFlagFUA) != 0:
			return errInval, nil
		case exp.ReadOnly:
			return errPerm, nil
		case end > uint64(exp.Size) || end < req.offset:
			return errNoSpc, nil
		}
		if _, err := exp.Backend.WriteAt(data, int64(req.offset)); err != nil {
			c.s.log(slog.LevelError, fmt.Sprintf("nbd: write of %d bytes at %d: %v", req.length, req.offset, err),
				"offset", req.offset, "length", req.length, "err", err)
			return errIO, nil
		}
		if req.flags&cmdFlagFUA != 0 {
			return c.sync()
		}
		return 0, nil
	case cmdFlush:
		if exp.ReadOnly {
			return 0, nil
		}
		return c.sync()
	default:
		// Trim, write zeroes, block status, ...: not advertised.
		return errInval, nil
	}
}

func (c *conn) sync() (uint32, []byte) {
	if err := c.exp.Backend.Sync(); err != nil {
		c.s.log(slog.LevelError, fmt.Sprintf("nbd: flush: %v", err), "err", err)
		return errIO, nil
	}
	return 0, nil
}

// Data buffers are recycled by size class, powers of two from 4 KiB: the
// kernel's nbd driver asks for up to max_sectors_kb (often 1 MiB) at a
// time, and a new buffer per request is zeroed, then garbage.
const (
	minBufShift = 12
	bufClasses  = 14 // up to 32 MiB, the default MaxBlock
)

// The pools hold a buffer's first byte (a pointer, which an interface
// holds without an allocation, where a slice would be boxed on every
// Put); its capacity is its class's.
var bufPools [bufClasses]sync.Pool

func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// getBuf returns a buffer of length n (contents undefined).
func getBuf(n int) []byte {
	k := bufClass(n)
	if k >= bufClasses {
		return make([]byte, n)
	}
	if p, ok := bufPools[k].Get().(*byte); ok {
		return unsafe.Slice(p, 1<<(k+minBufShift))[:n]
	}
	return make([]byte, n, 1<<(k+minBufShift))
}

// putBuf gives back a buffer from getBuf (nil is ignored).
func putBuf(b []byte) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 || c < 1<<minBufShift {
		return
	}
	if k := bufClass(c); k < bufClasses {
		bufPools[k].Put(unsafe.SliceData(b[:c]))
	}
}
