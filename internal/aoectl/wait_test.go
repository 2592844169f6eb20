package aoectl

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// fakeClock advances only when slept on.
type fakeClock struct{ now time.Time }

func (c *fakeClock) clock() Clock {
	return Clock{
		Now: func() time.Time { return c.now },
		Sleep: func(ctx context.Context, d time.Duration) error {
			c.now = c.now.Add(d)
			return ctx.Err()
		},
	}
}

// recorder records the control-node writes.
type recorder struct{ writes []string }

func (r *recorder) control() Control {
	return Control{Dir: "/dev/etherd", Writer: func(path string, data []byte) error {
		r.writes = append(r.writes, filepath.Base(path)+"="+string(data))
		return nil
	}}
}

// TestWaitRediscoverAndTimeout: discovery is asked at once (unless the
// caller has), again every Rediscover; a device held open while down is
// revalidated after each discovery; the timeout names what is missing.
func TestWaitRediscoverAndTimeout(t *testing.T) {
	for _, discovered := range []bool{false, true} {
		c := &fakeClock{now: time.Unix(1000, 0)}
		var r recorder
		w := Wait{Control: r.control(), Timeout: 12 * time.Second, Poll: time.Second, Rediscover: 5 * time.Second,
			Clock: c.clock(), Discovered: discovered}
		missing := []Missing{{Name: "e1.2", Why: "not found"}, {Name: "e1.4", Why: "down,closewait", Revalidate: "e1.4"}}
		err := w.Until(context.Background(), func() []Missing { return missing })
		var te *TimeoutError
		if !errors.As(err, &te) || !errors.Is(err, ErrTimeout) || !reflect.DeepEqual(te.Missing, missing) ||
			err.Error() != "timed out after 12s waiting for e1.2 (not found), e1.4 (down,closewait)" {
			t.Fatalf("discovered %v: %v", discovered, err)
		}
		want := []string{"discover=\n", "revalidate=e1.4\n", "discover=\n", "revalidate=e1.4\n", "discover=\n", "revalidate=e1.4\n"}
		if discovered {
			want = []string{"revalidate=e1.4\n", "discover=\n", "revalidate=e1.4\n", "discover=\n", "revalidate=e1.4\n"}
		}
		if !reflect.DeepEqual(r.writes, want) {
			t.Errorf("discovered %v: writes %q, want %q", discovered, r.writes, want)
		}
		if got := c.now.Sub(time.Unix(1000, 0)); got != 12*time.Second {
			t.Errorf("gave up after %v", got)
		}
	}
}

// TestWaitDone: the wait ends as soon as nothing is missing, and at a
// deadline set by the caller; a cancelled context ends it with its error.
func TestWaitDone(t *testing.T) {
	c := &fakeClock{now: time.Unix(1000, 0)}
	var r recorder
	polls := 0
	w := Wait{Control: r.control(), Timeout: time.Minute, Poll: time.Second, Rediscover: 5 * time.Second, Clock: c.clock()}
	err := w.Until(context.Background(), func() []Missing {
		polls++
		if polls < 3 {
			return []Missing{{Name: "e1.2", Why: "down"}}
		}
		return nil
	})
	if err != nil || polls != 3 || len(r.writes) != 1 {
		t.Errorf("err %v, %d polls, writes %q", err, polls, r.writes)
	}
	w.Deadline = c.now // already past
	if err := w.Until(context.Background(), func() []Missing { return []Missing{{Name: "e1.2", Why: "down"}} }); !errors.Is(err, ErrTimeout) ||
		err.Error() != "timed out after 1m0s waiting for e1.2 (down)" {
		t.Errorf("past the deadline: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w = Wait{Control: r.control(), Timeout: time.Minute, Poll: time.Second}
	if err := w.Until(ctx, func() []Missing { return []Missing{{Name: "e1.2", Why: "down"}} }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestWaitUp reads a fixture tree: up devices are done, others say why.
func TestWaitUp(t *testing.T) {
	got := notUp("../../sysfs/testdata/inuse", []string{"e1.1", "e1.4", "e9.9"})
	want := []Missing{
		{Name: "e1.4", Why: "down,closewait: held open while its target was away; the driver revives it only on revalidate, so 'aoe revalidate e1.4' may be needed", Revalidate: "e1.4"},
		{Name: "e9.9", Why: "not found"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notUp = %+v, want %+v", got, want)
	}
	if got := notUp("/nonexistent", []string{"e1.1"}); !reflect.DeepEqual(got, []Missing{{Name: "e1.1", Why: "not found"}}) {
		t.Errorf("notUp without sysfs = %+v", got)
	}
}
