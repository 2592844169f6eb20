package nbd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math/bits"
	"sync"
)

// conn is the transmission phase of one connection.
type conn struct {
	s   *Server
	exp *Export
	w   *sock
	wmu sync.Mutex
	err error // first write error
	hdr [16]byte
}

// transmit reads requests and serves them, up to Workers at once, until
// NBD_CMD_DISCONNECT or an error.
func (s *Server) transmit(ctx context.Context, exp *Export, r *bufio.Reader, w *sock) error {
	c := &conn{s: s, exp: exp, w: w}
	workers := s.Workers
	if workers <= 0 {
		workers = 32
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		req, err := readRequest(r)
		if err != nil {
			if errors.Is(err, io.EOF) && ctx.Err() == nil {
				return nil // the client closed without NBD_CMD_DISCONNECT
			}
			return err
		}
		var data []byte
		if req.typ == cmdWrite {
			if req.length > exp.maxBlock() {
				// Too big to buffer: skip the data and refuse.
				if _, err := io.CopyN(io.Discard, r, int64(req.length)); err != nil {
					return err
				}
				c.reply(req, errInval, nil)
				continue
			}
			data = getBuf(int(req.length))
			if _, err := io.ReadFull(r, data); err != nil {
				return err
			}
		}
		if req.typ == cmdDisc {
			wg.Wait()
			return c.writeErr()
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errno, payload := c.serve(req, data)
			c.reply(req, errno, payload)
			putBuf(data)
			putBuf(payload)
		}()
		if err := c.writeErr(); err != nil {
			return err
		}
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
		if req.length > exp.maxBlock() {
			return errOverflow, nil
		}
		if end > uint64(exp.Size) || end < req.offset {
			return errInval, nil
		}
		buf := getBuf(int(req.length))
		if _, err := exp.Backend.ReadAt(buf, int64(req.offset)); err != nil && !(errors.Is(err, io.EOF) && end == uint64(exp.Size)) {
			c.s.logf("nbd: read of %d bytes at %d: %v", req.length, req.offset, err)
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
			c.s.logf("nbd: write of %d bytes at %d: %v", req.length, req.offset, err)
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
		c.s.logf("nbd: flush: %v", err)
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
	if p, ok := bufPools[k].Get().(*[]byte); ok {
		return (*p)[:n]
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
		bufPools[k].Put(&b)
	}
}
