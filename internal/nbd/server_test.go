package nbd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
)

// memDisk is a Backend in memory.
type memDisk struct {
	mu    sync.Mutex
	b     []byte
	syncs int
}

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(m.b[off:], p), nil
}

func (m *memDisk) Sync() error {
	m.mu.Lock()
	m.syncs++
	m.mu.Unlock()
	return nil
}

func newMem(size int) *memDisk {
	b := make([]byte, size)
	rand.Read(b)
	return &memDisk{b: b}
}

// client is a minimal NBD client for the tests.
type client struct {
	t testing.TB
	c net.Conn
}

func dial(t *testing.T, s *Server) *client {
	a, b := net.Pipe()
	go s.ServeConn(context.Background(), b)
	t.Cleanup(func() { a.Close() })
	return hello(t, a)
}

// dialSocket connects over a Unix socket or TCP on loopback: the server
// reads and writes it with raw system calls (sock), not through net.Conn.
func dialSocket(t *testing.T, s *Server, network string) *client {
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "nbd.sock")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	a, err := net.Dial(network, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return hello(t, a)
}

func hello(t *testing.T, a net.Conn) *client {
	c := &client{t: t, c: a}
	var hello [18]byte
	c.read(hello[:])
	if binary.BigEndian.Uint64(hello[0:]) != magicNBD || binary.BigEndian.Uint64(hello[8:]) != magicIHaveOpt || binary.BigEndian.Uint16(hello[16:]) != 3 {
		t.Fatalf("hello %x", hello)
	}
	c.write(binary.BigEndian.AppendUint32(nil, flagFixedNewstyle|flagNoZeroes))
	return c
}

func (c *client) read(b []byte) {
	c.t.Helper()
	if _, err := io.ReadFull(c.c, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) option(code uint32, data []byte) {
	b := binary.BigEndian.AppendUint64(nil, magicIHaveOpt)
	b = binary.BigEndian.AppendUint32(b, code)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	c.write(append(b, data...))
}

// optReply reads one option reply.
func (c *client) optReply(code uint32) (uint32, []byte) {
	c.t.Helper()
	var h [20]byte
	c.read(h[:])
	if binary.BigEndian.Uint64(h[0:]) != magicOptReply || binary.BigEndian.Uint32(h[8:]) != code {
		c.t.Fatalf("option reply %x", h)
	}
	data := make([]byte, binary.BigEndian.Uint32(h[16:]))
	c.read(data)
	return binary.BigEndian.Uint32(h[12:]), data
}

func infoData(name string, infos ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(infos)))
	for _, i := range infos {
		b = binary.BigEndian.AppendUint16(b, i)
	}
	return b
}

// goExport sends NBD_OPT_GO and returns the size and flags.
func (c *client) goExport(name string) (uint64, uint16) {
	c.t.Helper()
	c.option(optGo, infoData(name, infoBlockSize))
	var size uint64
	var flags uint16
	for {
		typ, data := c.optReply(optGo)
		switch typ {
		case repAck:
			return size, flags
		case repInfo:
			if binary.BigEndian.Uint16(data) == infoExport {
				size, flags = binary.BigEndian.Uint64(data[2:]), binary.BigEndian.Uint16(data[10:])
			}
		default:
			c.t.Fatalf("GO %q: reply %#x %q", name, typ, data)
		}
	}
}

func (c *client) request(typ, flags uint16, cookie, off uint64, length uint32, data []byte) {
	b := binary.BigEndian.AppendUint32(nil, magicRequest)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, cookie)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, length)
	c.write(append(b, data...))
}

func (c *client) simple() (uint32, uint64) {
	c.t.Helper()
	var h [16]byte
	c.read(h[:])
	if binary.BigEndian.Uint32(h[0:]) != magicSimpleRep {
		c.t.Fatalf("reply %x", h)
	}
	return binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint64(h[8:])
}

func TestHandshakeOptions(t *testing.T) {
	m := newMem(1 << 20)
	s := &Server{Exports: []*Export{{Name: "e1.2", Size: 1 << 20, Backend: m}, {Name: "ro", Size: 4096, Backend: m, ReadOnly: true}}}
	c := dial(t, s)
	c.option(optList, nil)
	var names []string
	for {
		typ, data := c.optReply(optList)
		if typ == repAck {
			break
		}
		if typ != repServer {
			t.Fatalf("list reply %#x", typ)
		}
		names = append(names, string(data[4:4+binary.BigEndian.Uint32(data)]))
	}
	if len(names) != 2 || names[0] != "e1.2" || names[1] != "ro" {
		t.Errorf("list %q", names)
	}
	c.option(optList, []byte{1})
	if typ, _ := c.optReply(optList); typ != repErrInval {
		t.Errorf("list with data: %#x", typ)
	}
	c.option(optStructuredReply, nil)
	if typ, _ := c.optReply(optStructuredReply); typ != repErrUnsup {
		t.Errorf("structured reply: %#x", typ)
	}
	c.option(optInfo, infoData("nope"))
	if typ, _ := c.optReply(optInfo); typ != repErrUnknow {
		t.Errorf("unknown export: %#x", typ)
	}
	c.option(optInfo, []byte{0, 0, 0, 9, 'x'})
	if typ, _ := c.optReply(optInfo); typ != repErrInval {
		t.Errorf("bad info data: %#x", typ)
	}
	c.option(optInfo, infoData("ro", infoName))
	var sawBlock, sawName bool
	for {
		typ, data := c.optReply(optInfo)
		if typ == repAck {
			break
		}
		switch binary.BigEndian.Uint16(data) {
		case infoExport:
			if binary.BigEndian.Uint64(data[2:]) != 4096 || binary.BigEndian.Uint16(data[10:])&tflagReadOnly == 0 {
				t.Errorf("ro export info %x", data)
			}
		case infoBlockSize:
			sawBlock = binary.BigEndian.Uint32(data[2:]) == 512 && binary.BigEndian.Uint32(data[6:]) == 4096
		case infoName:
			sawName = string(data[2:]) == "ro"
		}
	}
	if !sawBlock || !sawName {
		t.Errorf("block size %v name %v", sawBlock, sawName)
	}
	// The default export is the first.
	if size, flags := c.goExport(""); size != 1<<20 || flags != tflagHasFlags|tflagSendFlush|tflagSendFUA|tflagCanMultiConn {
		t.Errorf("go: %d %#x", size, flags)
	}
	c.request(cmdDisc, 0, 1, 0, 0, nil)
}

func TestAbort(t *testing.T) {
	s := &Server{Exports: []*Export{{Name: "x", Size: 512, Backend: newMem(512)}}}
	a, b := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.ServeConn(context.Background(), b) }()
	c := &client{t: t, c: a}
	var hello [18]byte
	c.read(hello[:])
	c.write([]byte{0, 0, 0, 1})
	c.option(optAbort, nil)
	if typ, _ := c.optReply(optAbort); typ != repAck {
		t.Errorf("abort: %#x", typ)
	}
	if err := <-done; !errors.Is(err, ErrAborted) {
		t.Errorf("ServeConn: %v", err)
	}
}

func TestExportName(t *testing.T) {
	m := newMem(8192)
	s := &Server{Exports: []*Export{{Name: "x", Size: 8192, Backend: m}}}
	a, b := net.Pipe()
	go s.ServeConn(context.Background(), b)
	defer a.Close()
	c := &client{t: t, c: a}
	var hello [18]byte
	c.read(hello[:])
	c.write([]byte{0, 0, 0, 1}) // fixed newstyle, zeroes wanted
	c.option(optExportName, []byte("x"))
	var rep [134]byte
	c.read(rep[:])
	if binary.BigEndian.Uint64(rep[:]) != 8192 || !bytes.Equal(rep[10:], make([]byte, 124)) {
		t.Errorf("export name reply %x", rep[:10])
	}
	c.request(cmdRead, 0, 7, 512, 100, nil)
	if e, cookie := c.simple(); e != 0 || cookie != 7 {
		t.Fatalf("read: %d %d", e, cookie)
	}
	got := make([]byte, 100)
	c.read(got)
	if !bytes.Equal(got, m.b[512:612]) {
		t.Error("read data differ")
	}
}

func TestTransmission(t *testing.T) {
	m := newMem(1 << 20)
	ro := newMem(4096)
	s := &Server{Exports: []*Export{{Name: "d", Size: 1 << 20, Backend: m, MaxBlock: 65536}, {Name: "ro", Size: 4096, Backend: ro, ReadOnly: true}}}
	// Several connections at once, each writing its own region and
	// reading it back.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, s)
			c.goExport("d")
			data := make([]byte, 3000)
			rand.Read(data)
			off := uint64(i*100000 + 7)
			c.request(cmdWrite, cmdFlagFUA, 1, off, uint32(len(data)), data)
			if e, _ := c.simple(); e != 0 {
				t.Errorf("write: %d", e)
			}
			c.request(cmdRead, 0, 2, off, uint32(len(data)), nil)
			if e, _ := c.simple(); e != 0 {
				t.Errorf("read: %d", e)
				return
			}
			got := make([]byte, len(data))
			c.read(got)
			if !bytes.Equal(got, data) {
				t.Error("read back differs")
			}
			c.request(cmdFlush, 0, 3, 0, 0, nil)
			if e, _ := c.simple(); e != 0 {
				t.Errorf("flush: %d", e)
			}
			c.request(cmdDisc, 0, 4, 0, 0, nil)
		}()
	}
	wg.Wait()
	if m.syncs < 8 {
		t.Errorf("%d syncs, want 8 (4 FUA, 4 flushes)", m.syncs)
	}
	c := dial(t, s)
	c.goExport("d")
	for _, tc := range []struct {
		typ, flags uint16
		off        uint64
		n          uint32
		want       uint32
	}{
		{cmdRead, 0, 1<<20 - 10, 11, errInval},      // past the end
		{cmdWrite, 0, 1<<20 - 10, 11, errNoSpc},     // past the end
		{cmdRead, 0, 0, 65537, errOverflow},         // over the max block
		{cmdWrite, 0, 0, 65537, errInval},           // over the max block
		{4, 0, 0, 512, errInval},                    // trim: not advertised
		{cmdRead, 0x80, 0, 512, errInval},           // unknown flag
		{cmdRead, 0, ^uint64(0) - 1, 512, errInval}, // wraps around
	} {
		var data []byte
		if tc.typ == cmdWrite {
			data = make([]byte, tc.n)
		}
		c.request(tc.typ, tc.flags, 9, tc.off, tc.n, data)
		if e, cookie := c.simple(); e != tc.want || cookie != 9 {
			t.Errorf("%+v: error %d", tc, e)
		}
	}
	r := dial(t, s)
	r.goExport("ro")
	r.request(cmdWrite, 0, 1, 0, 512, make([]byte, 512))
	if e, _ := r.simple(); e != errPerm {
		t.Errorf("write to read-only: %d", e)
	}
}

// TestSockets: over a real socket (Unix, TCP), replies larger than the
// socket's buffer (written in parts) and many requests in flight at once
// come back whole and matched to their cookies.
func TestSockets(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) { testSocket(t, network) })
	}
}

func testSocket(t *testing.T, network string) {
	m := newMem(32 << 20)
	s := &Server{Exports: []*Export{{Name: "d", Size: 32 << 20, Backend: m}}}
	c := dialSocket(t, s, network)
	c.goExport("d")
	data := make([]byte, 3<<20+5)
	rand.Read(data)
	c.request(cmdWrite, 0, 1, 1000, uint32(len(data)), data)
	if e, cookie := c.simple(); e != 0 || cookie != 1 {
		t.Fatalf("write: error %d, cookie %d", e, cookie)
	}
	c.request(cmdRead, 0, 2, 0, 32<<20, nil)
	if e, cookie := c.simple(); e != 0 || cookie != 2 {
		t.Fatalf("read: error %d, cookie %d", e, cookie)
	}
	got := make([]byte, 32<<20)
	c.read(got)
	m.mu.Lock()
	want := bytes.Clone(m.b)
	m.mu.Unlock()
	if !bytes.Equal(got, want) || !bytes.Equal(got[1000:1000+len(data)], data) {
		t.Fatal("32 MiB read differs from the export")
	}
	// 64 reads of different sizes in flight; replies in any order.
	sizes := map[uint64]uint32{}
	for i := range uint64(64) {
		sizes[100+i] = uint32(1 + i*40000)
		c.request(cmdRead, 0, 100+i, i*4096, sizes[100+i], nil)
	}
	for range sizes {
		e, cookie := c.simple()
		n, ok := sizes[cookie]
		if e != 0 || !ok {
			t.Fatalf("reply error %d, cookie %d", e, cookie)
		}
		delete(sizes, cookie)
		got := make([]byte, n)
		c.read(got)
		off := (cookie - 100) * 4096
		if !bytes.Equal(got, want[off:off+uint64(n)]) {
			t.Fatalf("read %d differs", cookie)
		}
	}
	c.request(cmdDisc, 0, 5, 0, 0, nil)
}

// FuzzServeConn feeds arbitrary client bytes (handshake, options,
// requests) to a server with a memory backend: it must neither panic nor
// hang.
func FuzzServeConn(f *testing.F) {
	hs := []byte{0, 0, 0, 3}
	opt := func(code uint32, data []byte) []byte {
		b := binary.BigEndian.AppendUint64(nil, magicIHaveOpt)
		b = binary.BigEndian.AppendUint32(b, code)
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		return append(b, data...)
	}
	req := func(typ uint16, off uint64, n uint32) []byte {
		b := binary.BigEndian.AppendUint32(nil, magicRequest)
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint64(b, 1)
		b = binary.BigEndian.AppendUint64(b, off)
		return binary.BigEndian.AppendUint32(b, n)
	}
	seed := append(append([]byte{}, hs...), opt(optList, nil)...)
	seed = append(seed, opt(optInfo, infoData("d", infoBlockSize, infoName))...)
	seed = append(seed, opt(optGo, infoData(""))...)
	seed = append(seed, req(cmdWrite, 10, 4)...)
	seed = append(seed, 1, 2, 3, 4)
	seed = append(seed, req(cmdRead, 0, 512)...)
	seed = append(seed, req(cmdFlush, 0, 0)...)
	f.Add(seed)
	f.Add(append(append([]byte{}, hs...), opt(optExportName, []byte("d"))...))
	f.Add(append(append([]byte{}, hs...), opt(optAbort, nil)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &Server{Exports: []*Export{{Name: "d", Size: 4096, Backend: newMem(4096), MaxBlock: 8192}}}
		_ = s.ServeConn(context.Background(), &fakeConn{r: bytes.NewReader(in)})
	})
}

// FuzzParsers: the option and request decoders on arbitrary bytes.
func FuzzParsers(f *testing.F) {
	f.Add(infoData("e1.2", infoBlockSize))
	f.Add([]byte{0, 0, 0, 0xff, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		if req, err := parseInfoRequest(in); err == nil && 4+len(req.name)+2+2*len(req.infos) != len(in) {
			t.Fatalf("parsed %+v from %d bytes", req, len(in))
		}
		_, _ = readOption(bytes.NewReader(in))
		_, _ = readRequest(bytes.NewReader(in))
	})
}

// fakeConn reads from r and discards writes.
type fakeConn struct{ r io.Reader }

func (f *fakeConn) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error) { return len(p), nil }
func (f *fakeConn) Close() error                { return nil }
