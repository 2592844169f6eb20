package initiator_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/blockio"
)

// BenchmarkDiskRead measures the data path over the in-memory network:
// whole-disk-style reads of size bytes (cut into frames that fill the
// window) at MTU 1500 and 9000. It reports ns/frame and allocs/frame
// (the in-memory target and network allocate too: see
// BenchmarkTargetHandle for their share).
func BenchmarkDiskRead(b *testing.B) {
	for _, mtu := range []int{1500, 9000} {
		for _, size := range []int{4 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("mtu%d/%dK", mtu, size>>10), func(b *testing.B) {
				benchDisk(b, mtu, size, false)
			})
		}
	}
	b.Run("mtu1500/write1024K", func(b *testing.B) { benchDisk(b, 1500, 1<<20, true) })
}

func benchDisk(b *testing.B, mtu, size int, write bool) {
	nw := &aoetest.Network{}
	tg := diskTarget(16<<20, mtu)
	tg.BufferCount = 16
	nw.Serve(b, tg)
	c := nw.Client(b, "a0", hostA, mtu)
	f, err := initiator.RoundTrip(c, context.Background(), &wire.Frame{Destination: tg.MAC, Shelf: tg.Shelf, Slot: tg.Slot,
		Command: wire.CommandQueryConfig, Arg: &wire.ConfigArg{}})
	if err != nil {
		b.Fatal(err)
	}
	d, err := initiator.OpenDisk(context.Background(), tg.Shelf, tg.Slot,
		[]initiator.DiskPath{{Client: c, MAC: tg.MAC, Config: f.Arg.(*wire.ConfigArg)}}, initiator.DiskOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, size)
	before := d.PathStats()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for i := range b.N {
		off := int64(i*size) % (16<<20 - int64(size))
		off -= off % 512
		if write {
			_, err = d.WriteAt(buf, off)
		} else {
			_, err = d.ReadAt(buf, off)
		}
		if err != nil {
			b.Fatal(err)
		}
		if !write && !bytes.Equal(buf, tg.Disk[off:off+int64(size)]) {
			b.Fatal("wrong data")
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	var frames uint64
	for _, s := range blockio.PathsSince(before, d.PathStats()) {
		frames += s.Frames
	}
	if frames > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(frames), "allocs/frame")
	}
}

// BenchmarkTargetHandle is the in-memory target's own cost per READ of
// one 1500-MTU frame (2 sectors), to subtract from BenchmarkDiskRead's
// allocs/frame.
func BenchmarkTargetHandle(b *testing.B) {
	tg := diskTarget(1<<20, 1500)
	req, err := (&wire.Frame{Destination: tg.MAC, Source: hostA, Shelf: tg.Shelf, Slot: tg.Slot, Command: wire.CommandATA,
		Arg: wire.NewRead(8, 2, true)}).MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if tg.Handle(req) == nil {
			b.Fatal("no reply")
		}
	}
}

// BenchmarkDiskReadQD32 is 32 concurrent 4 KiB reads against a window of
// 16 (aoe bench's rand-read QD32): the cost of waiting for slots.
func BenchmarkDiskReadQD32(b *testing.B) {
	nw := &aoetest.Network{}
	tg := diskTarget(16<<20, 1500)
	tg.BufferCount = 16
	nw.Serve(b, tg)
	c := nw.Client(b, "a0", hostA, 1500)
	d := openDisk1(b, tg, c)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	before := d.PathStats()
	b.SetBytes(4096)
	b.ReportAllocs()
	b.SetParallelism(16) // 32 goroutines on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		i := int64(0)
		for pb.Next() {
			i += 7919
			off := (i * 4096) % (16<<20 - 4096)
			if _, err := d.ReadAt(buf, off); err != nil {
				b.Error(err)
				return
			}
			if !bytes.Equal(buf, tg.Disk[off:off+4096]) {
				b.Error("wrong data")
				return
			}
		}
	})
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	var frames uint64
	for _, s := range blockio.PathsSince(before, d.PathStats()) {
		frames += s.Frames
	}
	if frames > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(frames), "allocs/frame")
	}
}

func openDisk1(b *testing.B, tg *aoetest.Target, c *initiator.Client) *initiator.Disk {
	f, err := initiator.RoundTrip(c, context.Background(), &wire.Frame{Destination: tg.MAC, Shelf: tg.Shelf, Slot: tg.Slot,
		Command: wire.CommandQueryConfig, Arg: &wire.ConfigArg{}})
	if err != nil {
		b.Fatal(err)
	}
	d, err := initiator.OpenDisk(context.Background(), tg.Shelf, tg.Slot,
		[]initiator.DiskPath{{Client: c, MAC: tg.MAC, Config: f.Arg.(*wire.ConfigArg)}}, initiator.DiskOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}
