package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Backend is what an export serves. Sync makes completed writes durable
// (NBD_CMD_FLUSH, and FUA writes).
type Backend interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
}

// Export is one export of a Server.
type Export struct {
	// Name is the export name clients ask for.
	Name        string
	Description string
	Size        int64
	Backend     Backend
	// ReadOnly refuses writes (EPERM) and says so in the export's flags.
	ReadOnly bool
	// PreferredBlock and MaxBlock are advertised in NBD_INFO_BLOCK_SIZE
	// (defaults 4096 and 32 MiB); the minimum is 1: any offset and length
	// is served.
	PreferredBlock, MaxBlock uint32
}

func (e *Export) maxBlock() uint32 {
	if e.MaxBlock == 0 {
		return 32 << 20
	}
	return e.MaxBlock
}

func (e *Export) preferredBlock() uint32 {
	if e.PreferredBlock == 0 {
		return 4096
	}
	return e.PreferredBlock
}

func (e *Export) flags() uint16 {
	f := uint16(tflagHasFlags | tflagSendFlush | tflagSendFUA)
	if e.ReadOnly {
		f |= tflagReadOnly
	}
	return f
}

// Server serves exports to NBD clients; each connection is served on its
// own, and requests within one are served concurrently (up to Workers).
type Server struct {
	// Exports are the exports; the first is also the default export, the
	// one the empty name selects.
	Exports []*Export
	// Workers bounds the requests served at once per connection
	// (default 32).
	Workers int
	// ErrorLog, when set, is told why a connection ended badly and about
	// I/O errors returned to clients.
	ErrorLog func(format string, args ...any)
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog(format, args...)
	}
}

func (s *Server) export(name string) *Export {
	if name == "" && len(s.Exports) > 0 {
		return s.Exports[0]
	}
	for _, e := range s.Exports {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// Serve accepts connections on l and serves each in its own goroutine
// until l fails or ctx ends (then l is closed). It returns the accept
// error, or nil after ctx ended.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ServeConn(ctx, c); err != nil && !errors.Is(err, ErrAborted) {
				s.logf("nbd: %v: %v", c.RemoteAddr(), err)
			}
		}()
	}
}

// ServeConn runs the handshake and then serves requests on one connection
// until the client disconnects, the connection fails, or ctx ends. It
// closes conn. It returns nil after NBD_CMD_DISCONNECT, ErrAborted when
// the client left during the handshake, or what went wrong (ErrBadMagic,
// ErrNotFixedNewstyle, ErrOptionTooLong, a read or write error).
func (s *Server) ServeConn(ctx context.Context, conn io.ReadWriteCloser) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sk := newSock(conn)
	r := bufio.NewReaderSize(sk, 256<<10)
	w := bufio.NewWriter(conn)
	exp, err := s.handshake(r, w)
	if err != nil {
		return err
	}
	// The handshake flushed all it wrote: replies go straight to sk.
	return s.transmit(ctx, exp, r, sk)
}

// handshake runs the fixed newstyle negotiation and returns the export the
// client chose.
func (s *Server) handshake(r *bufio.Reader, w *bufio.Writer) (*Export, error) {
	var hello [18]byte
	binary.BigEndian.PutUint64(hello[0:8], magicNBD)
	binary.BigEndian.PutUint64(hello[8:16], magicIHaveOpt)
	binary.BigEndian.PutUint16(hello[16:18], flagFixedNewstyle|flagNoZeroes)
	if _, err := w.Write(hello[:]); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	var cf [4]byte
	if _, err := io.ReadFull(r, cf[:]); err != nil {
		return nil, eofAborted(err)
	}
	clientFlags := binary.BigEndian.Uint32(cf[:])
	if clientFlags&flagFixedNewstyle == 0 {
		return nil, ErrNotFixedNewstyle
	}
	noZeroes := clientFlags&flagNoZeroes != 0
	for {
		o, err := readOption(r)
		if err != nil {
			return nil, eofAborted(err)
		}
		exp, done, err := s.option(w, o, noZeroes)
		if err == nil {
			err = w.Flush()
		}
		if err != nil || done {
			return exp, err
		}
	}
}

func eofAborted(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrAborted
	}
	return err
}

// option answers one option; done with a nil export means the client
// aborted.
func (s *Server) option(w *bufio.Writer, o option, noZeroes bool) (exp *Export, done bool, err error) {
	reply := func(typ uint32, data []byte) error {
		_, err := w.Write(optionReply(o.code, typ, data))
		return err
	}
	switch o.code {
	case optExportName:
		exp := s.export(string(o.data))
		if exp == nil {
			return nil, true, fmt.Errorf("nbd: client asked for unknown export %q", o.data)
		}
		var b [10 + 124]byte
		binary.BigEndian.PutUint64(b[0:8], uint64(exp.Size))
		binary.BigEndian.PutUint16(b[8:10], exp.flags())
		n := len(b)
		if noZeroes {
			n = 10
		}
		_, err := w.Write(b[:n])
		return exp, true, err
	case optAbort:
		_ = reply(repAck, nil)
		_ = w.Flush()
		return nil, true, ErrAborted
	case optList:
		if len(o.data) != 0 {
			return nil, false, reply(repErrInval, []byte("NBD_OPT_LIST takes no data"))
		}
		for _, e := range s.Exports {
			b := binary.BigEndian.AppendUint32(nil, uint32(len(e.Name)))
			b = append(b, e.Name...)
			b = append(b, e.Description...)
			if err := reply(repServer, b); err != nil {
				return nil, false, err
			}
		}
		return nil, false, reply(repAck, nil)
	case optInfo, optGo:
		return s.info(w, o, reply)
	default:
		return nil, false, reply(repErrUnsup, []byte("option not supported"))
	}
}

// info answers NBD_OPT_INFO and NBD_OPT_GO: NBD_INFO_EXPORT always,
// NBD_INFO_BLOCK_SIZE always (the client may ignore it), NBD_INFO_NAME
// when asked.
func (s *Server) info(w *bufio.Writer, o option, reply func(uint32, []byte) error) (*Export, bool, error) {
	req, err := parseInfoRequest(o.data)
	if err != nil {
		return nil, false, reply(repErrInval, []byte(err.Error()))
	}
	exp := s.export(req.name)
	if exp == nil {
		return nil, false, reply(repErrUnknow, []byte("no such export"))
	}
	b := binary.BigEndian.AppendUint16(nil, infoExport)
	b = binary.BigEndian.AppendUint64(b, uint64(exp.Size))
	b = binary.BigEndian.AppendUint16(b, exp.flags())
	if err := reply(repInfo, b); err != nil {
		return nil, false, err
	}
	b = binary.BigEndian.AppendUint16(nil, infoBlockSize)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, exp.preferredBlock())
	b = binary.BigEndian.AppendUint32(b, exp.maxBlock())
	if err := reply(repInfo, b); err != nil {
		return nil, false, err
	}
	for _, t := range req.infos {
		if t == infoName {
			b = binary.BigEndian.AppendUint16(nil, infoName)
			b = append(b, exp.Name...)
			if err := reply(repInfo, b); err != nil {
				return nil, false, err
			}
		}
	}
	if err := reply(repAck, nil); err != nil {
		return nil, false, err
	}
	if o.code == optGo {
		return exp, true, nil
	}
	return nil, false, nil
}
