package soak

import (
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
	"github.com/goaoe/aoe/internal/blockio"
)

// Addresses of a scenario's target, impostor and host interfaces.
var (
	TargetMAC   = net.HardwareAddr{0x02, 0x50, 0xa0, 0, 0, 0x10}
	ImpostorMAC = net.HardwareAddr{0x02, 0x50, 0xa0, 0, 0, 0x66}
)

// HostMAC is the MAC of host interface i.
func HostMAC(i int) net.HardwareAddr { return net.HardwareAddr{0x02, 0x50, 0xa0, 0, 1, byte(i)} }

// The address of every scenario's disk.
const (
	Shelf = 7
	Slot  = 3
)

// OpKind is what an operation does.
type OpKind int

// The operations.
const (
	OpRead OpKind = iota
	OpWrite
	OpSync
)

func (k OpKind) String() string { return [...]string{"read", "write", "sync"}[k] }

// Op is one operation of a scenario.
type Op struct {
	Kind OpKind
	Off  int64
	Len  int
	// Phase is the index of the Mix the peer has when the operation
	// starts; after Switch (when not 0) it switches to the next phase.
	Phase  int
	Switch time.Duration
	// Data is what a write writes.
	Data []byte
}

func (o Op) String() string {
	s := fmt.Sprintf("%s off=%d len=%d phase=%d", o.Kind, o.Off, o.Len, o.Phase)
	if o.Switch > 0 {
		s += " switch-after=" + o.Switch.String()
	}
	return s
}

// Scenario is one seed's setup and operations.
type Scenario struct {
	Seed uint64
	// Sectors is the disk's size; TargetMTU gives its advertised frame
	// size; MTUs has the MTU of each host interface (one or two paths).
	Sectors   uint64
	TargetMTU int
	MTUs      []int
	// Impostor puts a second target with another disk on the address:
	// the disk must then be refused (a ConflictError, exit 1).
	Impostor bool
	Phases   []Mix
	Ops      []Op
}

// Size is the disk's size in bytes.
func (s *Scenario) Size() int64 { return int64(s.Sectors) * wire.SectorSize }

func (s *Scenario) String() string {
	var ph []string
	for _, m := range s.Phases {
		ph = append(ph, "["+m.String()+"]")
	}
	return fmt.Sprintf("seed %d: %d sectors, target MTU %d, host MTUs %v, impostor %v, %d ops, phases %s",
		s.Seed, s.Sectors, s.TargetMTU, s.MTUs, s.Impostor, len(s.Ops), strings.Join(ph, " "))
}

// NewScenario draws seed's scenario with up to maxOps operations.
func NewScenario(seed uint64, maxOps int) *Scenario {
	r := mrand.New(mrand.NewPCG(seed, 0xa0e5))
	s := &Scenario{Seed: seed}
	s.Sectors = uint64(128 + r.IntN(8192-128+1))
	if r.IntN(2) == 0 {
		s.Sectors |= 1 // odd
	}
	mtu := func() int { return []int{1500, 9000}[r.IntN(2)] }
	s.TargetMTU = mtu()
	s.MTUs = []int{mtu()}
	if r.IntN(3) == 0 {
		s.MTUs = append(s.MTUs, mtu())
	}
	s.Impostor = r.IntN(10) == 0
	for range 1 + r.IntN(4) {
		s.Phases = append(s.Phases, drawMix(r))
	}
	size := s.Size()
	for range 1 + r.IntN(maxOps) {
		var o Op
		switch x := r.IntN(20); {
		case x < 9:
			o.Kind = OpRead
		case x < 18:
			o.Kind = OpWrite
		default:
			o.Kind = OpSync
		}
		switch x := r.IntN(10); {
		case x == 0:
			o.Off = 0
		case x == 1:
			o.Off = size - int64(r.IntN(4096)) // the end, from before
		case x == 2:
			o.Off = size + int64(r.IntN(2048)) // at or past the end
		case x < 5:
			o.Off = r.Int64N(size/512) * 512 // a sector boundary
		default:
			o.Off = r.Int64N(size)
		}
		o.Off = max(o.Off, 0)
		switch x := r.IntN(20); {
		case x == 0:
			o.Len = 0
		case x < 6:
			o.Len = 1 + r.IntN(1024)
		case x < 9:
			o.Len = 512 * (1 + r.IntN(64))
		case x < 18:
			o.Len = 1 + r.IntN(64<<10)
		default:
			o.Len = 1 + r.IntN(512<<10)
		}
		o.Phase = r.IntN(len(s.Phases))
		if len(s.Phases) > 1 && r.IntN(5) == 0 {
			o.Switch = time.Duration(r.IntN(3000)) * time.Microsecond
		}
		if o.Kind == OpWrite {
			o.Data = make([]byte, o.Len)
			for i := range o.Data {
				o.Data[i] = byte(r.Uint32())
			}
		}
		s.Ops = append(s.Ops, o)
	}
	return s
}

// drawMix draws a phase: honest, network chaos only, some wrong answers
// mixed with right ones, or one wrong answer to everything.
func drawMix(r *mrand.Rand) Mix {
	var m Mix
	rate := func(p, hi float64) float64 {
		if r.Float64() < p {
			return r.Float64() * hi
		}
		return 0
	}
	m.Shift = []uint64{1, 2, 7, 64, 1000}[r.IntN(5)]
	m.StatusBits = []uint8{ata.StatusErr, ata.StatusDF, ata.StatusBSY, ata.StatusDRQ}[r.IntN(4)]
	kind := r.IntN(10)
	if kind == 0 {
		return m // honest
	}
	m.DropRequest = rate(0.3, 0.1)
	m.Drop = rate(0.4, 0.15)
	m.Dup = rate(0.4, 0.3)
	m.Reorder = rate(0.4, 0.4)
	m.Jitter = time.Duration(1+r.IntN(3)) * time.Millisecond
	if r.IntN(4) == 0 {
		m.Delay = time.Duration(r.IntN(2000)) * time.Microsecond
		if r.IntN(2) == 0 {
			m.Hold = 1 + r.IntN(6)
		}
	}
	m.Control = r.IntN(3) == 0
	switch {
	case kind < 4: // network chaos only
	case kind < 9: // wrong answers mixed in
		m.WrongLBA = rate(0.4, 0.2)
		m.Short = rate(0.4, 0.2)
		m.Remaining = rate(0.4, 0.2)
		m.Status = rate(0.3, 0.1)
	default: // one wrong answer to every data request
		switch r.IntN(4) {
		case 0:
			m.WrongLBA = 1
		case 1:
			m.Short = 1
		case 2:
			m.Remaining = 1
		default:
			m.Status = 1
		}
	}
	return m
}

// NewTarget returns the scenario's target (random content) and, with
// Impostor, the impostor (the content inverted, another serial).
func (s *Scenario) NewTarget() (tg, imp *aoetest.Target) {
	disk := make([]byte, s.Size())
	r := mrand.NewChaCha8([32]byte{byte(s.Seed), byte(s.Seed >> 8), byte(s.Seed >> 16), byte(s.Seed >> 24), byte(s.Seed >> 32)})
	r.Read(disk)
	// The serial is short: IDENTIFY carries 20 bytes of it, and the
	// impostor's differs by a "-x" at its end.
	tg = &aoetest.Target{Shelf: Shelf, Slot: Slot, MAC: TargetMAC, BufferCount: 8, MTU: s.TargetMTU,
		Sectors: s.Sectors, Model: "soak", Serial: fmt.Sprintf("s%x", s.Seed&(1<<48-1)), Disk: disk}
	if s.Impostor {
		imp = tg.Impostor(ImpostorMAC)
	}
	return tg, imp
}

// DiskOptions are the data path's options in a scenario: short timeouts,
// so that a seed ends in well under a second (a wrong answer fails a
// frame at once; only frames lost on every try wait for the deadline).
// The deadline counts time the process did not run: on a loaded machine a
// shorter one fails frames sent once and never answered only because
// nothing ran before it passed.
var DiskOptions = initiator.DiskOptions{Deadline: time.Second, MinRTO: time.Millisecond,
	InitialRTO: 10 * time.Millisecond, MaxRTO: 50 * time.Millisecond}

// Model is what the disk must hold: its bytes, and which of them are
// known (a failed write, or one the peer put at a wrong LBA, leaves its
// range unknown until it is written again).
type Model struct {
	data  []byte
	known []bool
}

// NewModel returns a model knowing all of disk.
func NewModel(disk []byte) *Model {
	m := &Model{data: append([]byte(nil), disk...), known: make([]bool, len(disk))}
	for i := range m.known {
		m.known[i] = true
	}
	return m
}

// Write records an acknowledged write.
func (m *Model) Write(off int64, p []byte) {
	copy(m.data[off:], p)
	for i := off; i < off+int64(len(p)); i++ {
		m.known[i] = true
	}
}

// Forget makes n bytes at off unknown (clamped to the disk).
func (m *Model) Forget(off, n int64) {
	end := min(off+n, int64(len(m.data)))
	for i := max(off, 0); i < end; i++ {
		m.known[i] = false
	}
}

// ForgetSectors makes the sectors [first, end) unknown.
func (m *Model) ForgetSectors(first, end uint64) {
	if first >= uint64(len(m.data))/wire.SectorSize {
		return
	}
	m.Forget(int64(first)*wire.SectorSize, int64(end-first)*wire.SectorSize)
}

// Check compares got, read at off, with the model: it returns the offset
// of the first known byte that differs, or -1, and how many known bytes it
// compared.
func (m *Model) Check(off int64, got []byte) (bad int64, compared int64) {
	for i, b := range got {
		j := off + int64(i)
		if !m.known[j] {
			continue
		}
		compared++
		if b != m.data[j] {
			return j, compared
		}
	}
	return -1, compared
}

// Stats are the executions of a soak run: what ran, what was checked,
// how operations failed.
type Stats struct {
	mu                            sync.Mutex
	Seeds, Refused, OneOfTwo, Ops int
	Concurrent                    int // ops run in batches of more than one
	Reads, Writes, Syncs          int
	BytesChecked, BytesWrote      int64
	Failures                      map[string]int
	BadReplies, Retransmits       uint64
	Requests, Dropped, Doubled    uint64
	Answers                       [nAnswers]uint64
}

// Fail counts a failed operation by the kind of its error.
func (s *Stats) Fail(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Failures == nil {
		s.Failures = map[string]int{}
	}
	s.Failures[kind]++
}

// AddPeer adds a peer's counters.
func (s *Stats) AddPeer(p PeerStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Requests += p.Requests
	s.Dropped += p.DroppedRequests + p.DroppedReplies
	s.Doubled += p.Duplicated
	for i, n := range p.Answers {
		s.Answers[i] += n
	}
}

// AddPaths adds a disk's path counters.
func (s *Stats) AddPaths(ps []initiator.PathStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		s.BadReplies += p.BadReplies
		s.Retransmits += p.Retransmits
	}
}

// Add adds the counters of one operation (under the caller's control:
// Stats' counters are plain fields, added to by one goroutine at a time).
func (s *Stats) Add(f func(s *Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *Stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fails []string
	total := 0
	for k, n := range s.Failures {
		fails = append(fails, fmt.Sprintf("%s %d", k, n))
		total += n
	}
	sort.Strings(fails)
	var answers []string
	for i, n := range s.Answers {
		answers = append(answers, fmt.Sprintf("%s %d", answerNames[i], n))
	}
	return fmt.Sprintf("%d seeds (impostor: %d refused, %d opened one of the two), %d ops (%d reads, %d writes, %d syncs; %d run concurrently), %d bytes checked, %d bytes written; "+
		"%d failed ops (%s); peer: %d requests, %d frames lost, %d doubled, data answers: %s; initiator: %d bad replies dropped, %d retransmits",
		s.Seeds, s.Refused, s.OneOfTwo, s.Ops, s.Reads, s.Writes, s.Syncs, s.Concurrent, s.BytesChecked, s.BytesWrote,
		total, strings.Join(fails, ", "), s.Requests, s.Dropped, s.Doubled, strings.Join(answers, ", "), s.BadReplies, s.Retransmits)
}

// Kind names an error of the data path for the counters (an error with a
// SoakKind method names itself: a command's exit).
func Kind(err error) string {
	var k interface{ SoakKind() string }
	if errors.As(err, &k) {
		return k.SoakKind()
	}
	var ne *NBDError
	if errors.As(err, &ne) {
		if ne.Errno == 5 { // EIO: the disk's own error follows
			return "nbd-eio/" + diskKind(err)
		}
		return fmt.Sprintf("nbd-errno-%d", ne.Errno)
	}
	return diskKind(err)
}

func diskKind(err error) string {
	var re *initiator.ReplyError
	var ae *wire.ATAError
	var ec wire.ErrorCode
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, new(*initiator.ConflictError)):
		return "conflict"
	case errors.As(err, &re):
		return "bad-reply(" + re.Kind + ")"
	case errors.Is(err, initiator.ErrDeadline):
		return "deadline"
	case errors.As(err, &ae):
		return "ata"
	case errors.As(err, &ec):
		return "aoe-error"
	case errors.Is(err, io.ErrShortWrite):
		return "past-end"
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, blockio.ErrNotFound):
		return "not-found"
	}
	return "other"
}
