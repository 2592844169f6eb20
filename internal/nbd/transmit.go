package nbd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
)

// conn is the transmission phase of one connection.
type conn struct {
	s   *Server
	exp *Export
	w   *bufio.Writer
	wmu sync.Mutex
	err error // first write error
}

// transmit reads requests and serves them, up to Workers at once, until
// NBD_CMD_DISCONNECT or an error.
func (s *Server) transmit(ctx context.Context, exp *Export, r *bufio.Reader, w *bufio.Writer) error {
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
			data = make([]byte, req.length)
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
	_, err := c.w.Write(simpleReply(errno, req.cookie))
	if err == nil && errno == 0 && req.typ == cmdRead {
		_, err = c.w.Write(payload)
	}
	if err == nil {
		err = c.w.Flush()
	}
	c.err = err
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
		buf := make([]byte, req.length)
		if _, err := exp.Backend.ReadAt(buf, int64(req.offset)); err != nil && !(errors.Is(err, io.EOF) && end == uint64(exp.Size)) {
			c.s.logf("nbd: read of %d bytes at %d: %v", req.length, req.offset, err)
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
