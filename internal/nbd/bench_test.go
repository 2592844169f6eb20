package nbd

import (
	"context"
	"net"
	"path/filepath"
	"testing"
)

// BenchmarkRead4K measures one 4 KiB NBD read at a time over a Unix socket
// from a memory backend: the server's own cost per request.
func BenchmarkRead4K(b *testing.B) {
	m := newMem(16 << 20)
	sock := filepath.Join(b.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Server{Exports: []*Export{{Name: "m", Size: 16 << 20, Backend: m}}}
	go s.Serve(ctx, l)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: b, c: conn}
	var hello [18]byte
	c.read(hello[:])
	c.write([]byte{0, 0, 0, 3})
	c.goExport("m")
	buf := make([]byte, 4096)
	b.SetBytes(4096)
	b.ResetTimer()
	for i := range b.N {
		c.request(cmdRead, 0, uint64(i), uint64(i%4000)*4096, 4096, nil)
		if e, _ := c.simple(); e != 0 {
			b.Fatal(e)
		}
		c.read(buf)
	}
}
