package soak

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// NBDClient is a minimal NBD client (fixed newstyle, NBD_OPT_GO, simple
// replies): a Device served by an nbd.Server. It is safe for concurrent
// use: requests are sent as they come, replies matched by cookie.
type NBDClient struct {
	rw   io.ReadWriter
	Size int64

	wmu     sync.Mutex // one request written at a time
	mu      sync.Mutex
	cookie  uint64
	waiting map[uint64]*call
	err     error // the connection failed
}

// call is a request waiting for its reply.
type call struct {
	p    []byte // a read's buffer
	done chan error
}

// NBDError is a request the server answered with an error (errno).
type NBDError struct {
	Op    string
	Errno uint32
}

func (e *NBDError) Error() string { return fmt.Sprintf("nbd: %s: error %d", e.Op, e.Errno) }

// NBD protocol numbers (big-endian on the wire).
const (
	nbdMagic      = 0x4e42444d41474943 // "NBDMAGIC"
	nbdIHaveOpt   = 0x49484156454f5054 // "IHAVEOPT"
	nbdOptReply   = 0x0003e889045565a9
	nbdRequest    = 0x25609513
	nbdSimpleRep  = 0x67446698
	nbdOptGo      = 7
	nbdRepAck     = 1
	nbdRepInfo    = 3
	nbdInfoExport = 0
	nbdCmdRead    = 0
	nbdCmdWrite   = 1
	nbdCmdFlush   = 3
)

// DialNBD does the handshake on rw and selects the default export.
//
//	server hello: 8 NBDMAGIC, 8 IHAVEOPT, 2 handshake flags
//	client flags: 4 (fixed newstyle 1, no zeroes 2)
//	option:       8 IHAVEOPT, 4 option, 4 length, data
//	GO data:      4 name length (0), 2 info requests (0)
//	option reply: 8 magic, 4 option, 4 type, 4 length, data
//	              (NBD_INFO_EXPORT: 2 type, 8 size, 2 flags)
func DialNBD(rw io.ReadWriter) (*NBDClient, error) {
	c := &NBDClient{rw: rw}
	var hello [18]byte
	if _, err := io.ReadFull(rw, hello[:]); err != nil {
		return nil, err
	}
	if binary.BigEndian.Uint64(hello[0:]) != nbdMagic || binary.BigEndian.Uint64(hello[8:]) != nbdIHaveOpt {
		return nil, fmt.Errorf("nbd: bad hello %x", hello)
	}
	b := binary.BigEndian.AppendUint32(nil, 3)
	b = binary.BigEndian.AppendUint64(b, nbdIHaveOpt)
	b = binary.BigEndian.AppendUint32(b, nbdOptGo)
	b = binary.BigEndian.AppendUint32(b, 6)
	b = append(b, 0, 0, 0, 0, 0, 0)
	if _, err := rw.Write(b); err != nil {
		return nil, err
	}
	for {
		var h [20]byte
		if _, err := io.ReadFull(rw, h[:]); err != nil {
			return nil, err
		}
		data := make([]byte, binary.BigEndian.Uint32(h[16:]))
		if _, err := io.ReadFull(rw, data); err != nil {
			return nil, err
		}
		if binary.BigEndian.Uint64(h[0:]) != nbdOptReply {
			return nil, fmt.Errorf("nbd: bad option reply %x", h)
		}
		switch typ := binary.BigEndian.Uint32(h[12:]); typ {
		case nbdRepAck:
			c.waiting = map[uint64]*call{}
			go c.receive()
			return c, nil
		case nbdRepInfo:
			if len(data) >= 12 && binary.BigEndian.Uint16(data) == nbdInfoExport {
				c.Size = int64(binary.BigEndian.Uint64(data[2:]))
			}
		default:
			return nil, fmt.Errorf("nbd: GO answered %#x", typ)
		}
	}
}

// do sends one request and waits for its simple reply (and a read's
// data into p).
//
//	request: 4 magic, 2 flags, 2 type, 8 cookie, 8 offset, 4 length, data
func (c *NBDClient) do(typ uint16, name string, off int64, length int, data, p []byte) error {
	cl := &call{p: p, done: make(chan error, 1)}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.cookie++
	cookie := c.cookie
	c.waiting[cookie] = cl
	c.mu.Unlock()
	b := binary.BigEndian.AppendUint32(nil, nbdRequest)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, cookie)
	b = binary.BigEndian.AppendUint64(b, uint64(off))
	b = binary.BigEndian.AppendUint32(b, uint32(length))
	c.wmu.Lock()
	_, err := c.rw.Write(append(b, data...))
	c.wmu.Unlock()
	if err != nil {
		return err // the receiver fails the call too when the connection ends
	}
	err = <-cl.done
	if errno, ok := err.(nbdErrno); ok {
		return &NBDError{Op: name, Errno: uint32(errno)}
	}
	return err
}

// nbdErrno is a reply's error value, passed from receive to do.
type nbdErrno uint32

func (e nbdErrno) Error() string { return fmt.Sprintf("error %d", uint32(e)) }

// receive reads the replies and hands each to its call, until the
// connection fails; then it fails the calls left.
//
//	reply: 4 magic, 4 error, 8 cookie, data (reads without error)
func (c *NBDClient) receive() {
	err := func() error {
		for {
			var h [16]byte
			if _, err := io.ReadFull(c.rw, h[:]); err != nil {
				return err
			}
			cookie := binary.BigEndian.Uint64(h[8:])
			c.mu.Lock()
			cl := c.waiting[cookie]
			delete(c.waiting, cookie)
			c.mu.Unlock()
			if binary.BigEndian.Uint32(h[0:]) != nbdSimpleRep || cl == nil {
				return fmt.Errorf("nbd: bad reply %x", h)
			}
			if errno := binary.BigEndian.Uint32(h[4:]); errno != 0 {
				cl.done <- nbdErrno(errno)
				continue
			}
			if cl.p != nil {
				if _, err := io.ReadFull(c.rw, cl.p); err != nil {
					cl.done <- err
					return err
				}
			}
			cl.done <- nil
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
	for k, cl := range c.waiting {
		cl.done <- err
		delete(c.waiting, k)
	}
}

// ReadAt reads p at off (NBD_CMD_READ): all or nothing.
func (c *NBDClient) ReadAt(p []byte, off int64) (int, error) {
	if err := c.do(nbdCmdRead, "read", off, len(p), nil, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteAt writes p at off (NBD_CMD_WRITE).
func (c *NBDClient) WriteAt(p []byte, off int64) (int, error) {
	if err := c.do(nbdCmdWrite, "write", off, len(p), p, nil); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Sync sends NBD_CMD_FLUSH.
func (c *NBDClient) Sync() error { return c.do(nbdCmdFlush, "flush", 0, 0, nil, nil) }
