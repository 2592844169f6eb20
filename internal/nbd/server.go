package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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
	// (defaults 4096 and 32 MiB, both at most half the server's
	// MaxInflightBytes; the preferred size is a power of two, as the
	// protocol wants: a value that is not is rounded up to one). The
	// minimum advertised is 512 (1 when Size is not a multiple of 512),
	// but any offset and length is served. A write longer than the
	// maximum is refused with EINVAL (its data is read and dropped), a
	// read with EOVERFLOW.
	PreferredBlock, MaxBlock uint32
}

// minBlock is the minimum block size advertised: the sector.
func (e *Export) minBlock() uint32 {
	if e.Size%512 != 0 {
		return 1
	}
	return 512
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
	return uint32(1) << bits.Len32(e.PreferredBlock-1)
}

// flags are the export's transmission flags. NBD_FLAG_CAN_MULTI_CONN is
// always set: every connection serves the same backend, and a flush on
// any of them (the backend's Sync) makes every write completed on any of
// them durable, which is what the flag promises; clients may then spread
// their requests over several connections (nbd-client -C N).
func (e *Export) flags() uint16 {
	f := uint16(tflagHasFlags | tflagSendFlush | tflagSendFUA | tflagCanMultiConn)
	if e.ReadOnly {
		f |= tflagReadOnly
	}
	return f
}

// Defaults of the Server's limits.
const (
	DefaultMaxInflightBytes = 128 << 20
	DefaultMaxConns         = 128
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReplyTimeout     = 60 * time.Second
)

// Server serves exports to NBD clients; each connection is served on its
// own, and requests within one are served concurrently (up to Workers).
//
// Its memory is bounded: request data in flight by MaxInflightBytes (all
// connections together), and the rest by the connections: MaxConns of
// them, each with a 256 KiB read buffer and up to Workers goroutines.
type Server struct {
	// Exports are the exports; the first is also the default export, the
	// one the empty name selects.
	Exports []*Export
	// Workers bounds the requests served at once per connection
	// (default 32).
	Workers int
	// MaxInflightBytes bounds the request data held at once, across all
	// connections: write payloads until the backend has them, read data
	// until it is sent (default DefaultMaxInflightBytes). A connection
	// whose next request would pass it waits, not reading its socket,
	// until earlier requests complete. One connection holds at most half
	// of it, and an export's maximum block size (as advertised and
	// enforced) is at most that half.
	MaxInflightBytes int64
	// MaxConns bounds the connections Serve serves at once, in the
	// handshake or in transmission, idle or not (default DefaultMaxConns;
	// negative: no bound). A connection beyond it is closed at once.
	MaxConns int
	// HandshakeTimeout bounds the negotiation: a client that has not
	// chosen an export by then is disconnected (default
	// DefaultHandshakeTimeout; negative: no bound).
	HandshakeTimeout time.Duration
	// ReplyTimeout bounds how long a reply may wait for the client to take
	// it (to make room in the socket's buffer): a client that leaves its
	// replies unread that long is disconnected, and the memory its reads
	// hold is freed (default DefaultReplyTimeout; negative: no bound). A
	// connection with no reply to send is never timed out.
	ReplyTimeout time.Duration
	// Logger, when set, is told (at level Warn) why a connection ended
	// badly, about connections refused and accept errors, and (at level
	// Error) about I/O errors returned to clients. Each message is a whole
	// sentence; attributes (remote, err, offset, length) repeat its parts
	// for handlers that keep them apart.
	Logger *slog.Logger

	once   sync.Once
	budget *budget
	conns  atomic.Int64 // connections Serve serves now
}

// setup fills in the defaults; it runs once.
func (s *Server) setup() {
	s.once.Do(func() {
		limit := s.MaxInflightBytes
		if limit <= 0 {
			limit = DefaultMaxInflightBytes
		}
		s.budget = newBudget(limit)
	})
}

func (s *Server) maxConns() int64 {
	switch {
	case s.MaxConns == 0:
		return DefaultMaxConns
	case s.MaxConns < 0:
		return -1
	}
	return int64(s.MaxConns)
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// maxBlock is e's maximum block size: its own, at most half the in-flight
// budget (so that any request it accepts fits in one connection's share).
func (s *Server) maxBlock(e *Export) uint32 {
	return uint32(max(1, min(int64(e.maxBlock()), s.budget.limit/2)))
}

// preferredBlock is e's preferred block size, at most its maximum (a
// power of two: the largest not over the maximum).
func (s *Server) preferredBlock(e *Export) uint32 {
	p, m := e.preferredBlock(), s.maxBlock(e)
	if p > m {
		p = uint32(1) << (bits.Len32(m) - 1)
	}
	return max(p, e.minBlock())
}

// log logs a message at level with its attributes (key, value pairs).
func (s *Server) log(level slog.Level, msg string, args ...any) {
	if s.Logger != nil {
		s.Logger.Log(context.Background(), level, msg, args...)
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
// until l fails or ctx ends (then l is closed). Temporary accept errors
// (out of file descriptors, a connection aborted before it was accepted,
// ...) are logged and retried after a pause, 5 ms doubling up to 1 s. A
// connection beyond MaxConns is closed as soon as accepted. Serve returns
// the accept error that was not temporary, or nil after ctx ended.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.setup()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var (
		delay    time.Duration // the pause before the next accept after an error
		lastLog  time.Time     // of a refused connection
		unlogged int           // refused connections not logged since
	)
	limit := s.maxConns()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !temporary(err) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log(slog.LevelWarn, fmt.Sprintf("nbd: accept: %v; retrying in %v", err, delay), "err", err, "retry", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		delay = 0
		if n := s.conns.Add(1); limit >= 0 && n > limit {
			s.conns.Add(-1)
			c.Close()
			// One line a second at most: a flood of connections
			// does not flood the log.
			if now := time.Now(); now.Sub(lastLog) >= time.Second {
				more := ""
				if unlogged > 0 {
					more = fmt.Sprintf(" (and %d more since the last report)", unlogged)
				}
				s.log(slog.LevelWarn, fmt.Sprintf("nbd: %v: connection refused: %d connections are served, the limit%s", c.RemoteAddr(), limit, more),
					"remote", c.RemoteAddr(), "limit", limit, "unlogged", unlogged)
				lastLog, unlogged = now, 0
			} else {
				unlogged++
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.conns.Add(-1)
			if err := s.ServeConn(ctx, c); err != nil && !errors.Is(err, ErrAborted) && ctx.Err() == nil {
				s.log(slog.LevelWarn, fmt.Sprintf("nbd: %v: %v", c.RemoteAddr(), err), "remote", c.RemoteAddr(), "err", err)
			}
		}()
	}
}

// temporary reports whether an accept error is worth retrying: the
// listener is fine, but this connection, or the process's file
// descriptors or memory, are not.
func temporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ECONNRESET,
		syscall.ENOBUFS, syscall.ENOMEM, syscall.EAGAIN, syscall.EINTR, syscall.EPROTO, syscall.EPERM, syscall.ETIMEDOUT} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ServeConn runs the handshake and then serves requests on one connection
// until the client disconnects, the connection fails, or ctx ends. It
// closes conn. It returns nil after NBD_CMD_DISCONNECT, ErrAborted when
// the client left during the handshake, or what went wrong (ErrBadMagic,
// ErrNotFixedNewstyle, ErrOptionTooLong, ErrHandshakeTimeout,
// ErrReplyTimeout, a read or write error).
func (s *Server) ServeConn(ctx context.Context, conn io.ReadWriteCloser) error {
	s.setup()
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sk := newSock(conn, orDefault(s.ReplyTimeout, DefaultReplyTimeout))
	defer sk.stop()
	r := bufio.NewReaderSize(sk, 256<<10)
	w := bufio.NewWriter(conn)
	var timer *time.Timer
	if d := orDefault(s.HandshakeTimeout, DefaultHandshakeTimeout); d > 0 {
		timer = time.AfterFunc(d, func() { conn.Close() })
	}
	exp, err := s.handshake(r, w)
	if timer != nil && !timer.Stop() {
		return ErrHandshakeTimeout
	}
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
	b = binary.BigEndian.AppendUint32(b, exp.minBlock())
	b = binary.BigEndian.AppendUint32(b, s.preferredBlock(exp))
	b = binary.BigEndian.AppendUint32(b, s.maxBlock(exp))
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
