package initiator

import (
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSocket is a socketReader that hands out queued empty frames (a
// Client handles each as malformed), at most a batch per poll, and
// counts its polls.
type fakeSocket struct {
	queued int // frames waiting; full: a whole batch at every poll
	full   bool
	polls  int
	out    [][]byte
}

func (f *fakeSocket) poll() ([][]byte, error) {
	f.polls++
	n := min(f.queued, recvBatch)
	if f.full {
		n = recvBatch
	}
	f.queued -= min(n, f.queued)
	f.out = f.out[:0]
	for range n {
		f.out = append(f.out, nil)
	}
	return f.out, nil
}

func (f *fakeSocket) read() ([][]byte, error) { return f.poll() }

// readyPipe makes a pipe whose read end is registered in s as a socket
// is (edge-triggered); writing a byte to the write end is a frame coming.
func readyPipe(t *testing.T, s *readSet) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLERR | unix.EPOLLET, Fd: int32(p[0])}
	if err := unix.EpollCtl(s.fd, unix.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

// TestMultiReadsReadiness: the joined reads look at a socket only while
// it may hold frames (from an event about it until a short batch), a
// socket that keeps handing whole batches does not keep another's frames
// waiting for more than staleTakes takes, and a deadline that passes
// makes every socket looked at.
func TestMultiReadsReadiness(t *testing.T) {
	s, err := newReadSet()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ra, _ := readyPipe(t, s)
	rb, wb := readyPipe(t, s)
	a, b := &fakeSocket{}, &fakeSocket{}
	m := &multiReads{s: s,
		ls:    []*lentReads{{c: &Client{}, r: a}, {c: &Client{}, r: b}},
		downs: make([]int, 2), fds: []int32{int32(ra), int32(rb)},
		ring: make([]bool, 2), ready: []bool{true, true}}
	var kicked atomic.Bool
	sink := &replySink{}
	// An event: written from another goroutine, so the frames are
	// queued before it (not ready, b is not polled meanwhile).
	event := func(w int) {
		if _, err := unix.Write(w, []byte{0}); err != nil {
			t.Error(err)
		}
	}

	// The first take looks at both (what came before the join made no
	// event); a's whole batch keeps it ready, b's empty queue does not.
	a.full = true
	if n, err := m.readReplies(time.Time{}, &kicked, sink); n != recvBatch || err != nil {
		t.Fatalf("first take: %d frames, %v", n, err)
	}
	if !m.ready[0] || m.ready[1] || b.polls != 1 {
		t.Fatalf("after the first take: ready %v, b polled %d times", m.ready, b.polls)
	}
	// b gets a frame while a keeps handing whole batches: b is looked
	// at again within staleTakes takes, not when a runs dry.
	b.queued = 1
	event(wb)
	for i := 0; b.queued > 0; i++ {
		if i > staleTakes {
			t.Fatalf("b's frame still waits after %d takes (b polled %d times)", i, b.polls)
		}
		if _, err := m.readReplies(time.Time{}, &kicked, sink); err != nil {
			t.Fatal(err)
		}
	}
	if m.ready[1] {
		t.Fatal("b ready after a short batch")
	}
	// a runs dry: with no event, neither is polled again before a wait,
	// and a frame that comes on b ends the wait.
	a.full, a.queued = false, 2
	if n, err := m.readReplies(time.Time{}, &kicked, sink); n != 2 || err != nil {
		t.Fatalf("a's last: %d frames, %v", n, err)
	}
	if m.ready[0] {
		t.Fatal("a ready after a short batch")
	}
	polls := b.polls
	b.queued = 3
	time.AfterFunc(20*time.Millisecond, func() { event(wb) })
	if n, err := m.readReplies(time.Now().Add(10*time.Second), &kicked, sink); n != 3 || err != nil {
		t.Fatalf("wait for b: %d frames, %v", n, err)
	}
	if b.polls != polls+1 {
		t.Fatalf("b polled %d times for one event", b.polls-polls)
	}
	// A deadline that passes with no event: both are looked at.
	pa, pb := a.polls, b.polls
	if n, err := m.readReplies(time.Now().Add(5*time.Millisecond), &kicked, sink); n != 0 || err != nil {
		t.Fatalf("deadline: %d frames, %v", n, err)
	}
	if a.polls != pa+1 || b.polls != pb+1 {
		t.Fatalf("after the deadline a polled %d, b %d times, want once each", a.polls-pa, b.polls-pb)
	}
}
