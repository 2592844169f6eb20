package soak

import (
	"testing"

	"github.com/goaoe/aoe/initiator/wire"
)

// TestModel: writes make bytes known, Forget unknown; Check compares
// only known bytes.
func TestModel(t *testing.T) {
	m := NewModel(make([]byte, 2048))
	m.Write(10, []byte{1, 2, 3})
	if bad, n := m.Check(10, []byte{1, 2, 3}); bad != -1 || n != 3 {
		t.Fatalf("check of what was written: %d, %d", bad, n)
	}
	if bad, _ := m.Check(9, []byte{0, 1, 9}); bad != 11 {
		t.Fatalf("wrong byte at 11 found at %d", bad)
	}
	m.ForgetSectors(0, 1)
	if bad, n := m.Check(0, make([]byte, 1024)); bad != -1 || n != 512 {
		t.Fatalf("forgotten sector compared: %d, %d", bad, n)
	}
	m.ForgetSectors(4, 9) // past the end: nothing
	m.Forget(2000, 100)   // clamped
	if _, n := m.Check(0, make([]byte, 2048)); n != 2048-512-48 {
		t.Fatalf("%d bytes compared", n)
	}
}

// TestBatch: the operations of a batch touch disjoint, non-adjacent
// sectors; a flush runs alone; every operation runs once, in order.
func TestBatch(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		sc := NewScenario(seed, 60)
		l := &Lab{Sc: sc}
		next := 0
		for _, b := range l.Batch(4) {
			if len(b) > 4 {
				t.Fatalf("seed %d: batch of %d", seed, len(b))
			}
			var spans [][2]int64
			for _, i := range b {
				if i != next {
					t.Fatalf("seed %d: op %d, want %d", seed, i, next)
				}
				next++
				op := sc.Ops[i]
				if op.Kind == OpSync && len(b) > 1 {
					t.Fatalf("seed %d: a flush in a batch of %d", seed, len(b))
				}
				if op.Phase != sc.Ops[b[0]].Phase {
					t.Fatalf("seed %d: phases differ in a batch", seed)
				}
				first := min(op.Off, sc.Size()) / wire.SectorSize
				end := (min(op.Off+int64(op.Len), sc.Size()) + wire.SectorSize - 1) / wire.SectorSize
				for _, s := range spans {
					if first <= s[1] && s[0] <= end {
						t.Fatalf("seed %d: op %d (sectors %d-%d) touches %d-%d", seed, i, first, end, s[0], s[1])
					}
				}
				spans = append(spans, [2]int64{first, end})
			}
		}
		if next != len(sc.Ops) {
			t.Fatalf("seed %d: %d of %d ops batched", seed, next, len(sc.Ops))
		}
	}
}

// TestScenarioRepeats: a seed draws the same scenario every time.
func TestScenarioRepeats(t *testing.T) {
	a, b := NewScenario(42, 50), NewScenario(42, 50)
	if a.String() != b.String() || len(a.Ops) != len(b.Ops) || a.Ops[len(a.Ops)-1].String() != b.Ops[len(b.Ops)-1].String() {
		t.Fatalf("%v\n%v", a, b)
	}
	ta, _ := a.NewTarget()
	tb, _ := b.NewTarget()
	if string(ta.Disk) != string(tb.Disk) {
		t.Fatal("the disks differ")
	}
}
