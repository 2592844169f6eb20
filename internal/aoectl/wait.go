package aoectl

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/goaoe/aoe/sysfs"
)

// Clock is the time Wait reads and sleeps on. A nil field is the real
// clock's (time.Now, a timer that ctx interrupts).
type Clock struct {
	Now func() time.Time
	// Sleep waits d, or returns ctx.Err() when ctx ends first.
	Sleep func(ctx context.Context, d time.Duration) error
}

// RealClock returns the real clock, its fields set.
func RealClock() Clock {
	var c Clock
	return Clock{Now: c.now, Sleep: c.sleep}
}

func (c Clock) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Clock) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Missing is an awaited item that is not ready yet.
type Missing struct {
	// Name is the item as the caller named it: "e1.2", "e1.2p1",
	// "UUID=0f3c...".
	Name string
	// Why says what is missing: "not found", "down", "no partition 1".
	Why string
	// Revalidate, when set, is a device held open while down
	// ("down,closewait"): the driver revives it only on revalidate, which
	// Wait writes for it after each discovery.
	Revalidate string
}

// String is the item as the timeout reports it: "e1.2 (down)".
func (m Missing) String() string { return m.Name + " (" + m.Why + ")" }

// Wait is the one loop that waits for discovery's result, for `aoe
// discover --wait` (Up) and `aoe up` (internal/boot, through Until).
type Wait struct {
	// Control is where discovery and revalidation are asked for.
	Control Control
	// Timeout bounds the wait from its start, or from Deadline - Timeout
	// when Deadline is set; the timeout error names it.
	Timeout  time.Duration
	Deadline time.Time
	// Poll is how often the state is read; Rediscover how often
	// discovery is asked for again.
	Poll, Rediscover time.Duration
	// Clock is the time the loop reads and sleeps on.
	Clock Clock
	// Discovered says that the caller has just asked for discovery: the
	// loop asks again only Rediscover later, instead of at once.
	Discovered bool
}

// Until waits until missing reports nothing. It asks for discovery (at
// once unless w.Discovered, then every w.Rediscover), reads missing every
// w.Poll, and after each discovery writes revalidate for the items that
// name a device to revalidate. It returns nil when nothing is missing, a
// *TimeoutError (matching ErrTimeout) with what is still missing at the
// deadline, ctx's error when it ends, or the error of a control-node write
// (a *NodeError when a node is missing or wrong; the error of a revalidate
// write that passed the node's check, such as EINVAL for a device the
// driver no longer knows, is left for the next round to tell).
func (w Wait) Until(ctx context.Context, missing func() []Missing) error {
	deadline := w.Deadline
	if deadline.IsZero() {
		deadline = w.Clock.now().Add(w.Timeout)
	}
	asked, discovered := w.Discovered, w.Discovered
	var last time.Time
	if asked {
		last = w.Clock.now()
	}
	for {
		now := w.Clock.now()
		if !asked || now.Sub(last) >= w.Rediscover {
			if err := w.Control.Write(sysfs.NodeDiscover, []byte("\n")); err != nil {
				return err
			}
			asked, discovered, last = true, true, now
		}
		m := missing()
		if len(m) == 0 {
			return nil
		}
		if discovered {
			discovered = false
			if err := w.revalidate(m); err != nil {
				return err
			}
		}
		if !now.Before(deadline) {
			return &TimeoutError{After: w.Timeout, Missing: m}
		}
		if err := w.Clock.sleep(ctx, w.Poll); err != nil {
			return err
		}
	}
}

// revalidate asks the driver to revalidate the devices held open while
// down. Only a node error stops the wait.
func (w Wait) revalidate(missing []Missing) error {
	for _, m := range missing {
		if m.Revalidate == "" {
			continue
		}
		err := w.Control.Write(sysfs.NodeRevalidate, []byte(m.Revalidate+"\n"))
		var ne *NodeError
		if errors.As(err, &ne) {
			return err
		}
	}
	return nil
}

// Up waits until every device of names (canonical names, "e1.2") is in
// the sysfs tree at sys with state up: the loop of `aoe discover --wait`.
// A named device that is down,closewait (held open while its target was
// away) is revived by the driver only on revalidate, which the loop writes
// for it after each discovery. Errors: those of Until.
func (w Wait) Up(ctx context.Context, sys string, names []string) error {
	return w.Until(ctx, func() []Missing { return notUp(sys, names) })
}

// notUp lists the devices of names that are not up in the tree at sys.
func notUp(sys string, names []string) []Missing {
	fs, fserr := sysfs.NewFS(sys)
	var missing []Missing
	for _, name := range names {
		if fserr != nil {
			missing = append(missing, Missing{Name: name, Why: "not found"})
			continue
		}
		d, err := fs.Device(name)
		switch {
		case err != nil:
			missing = append(missing, Missing{Name: name, Why: "not found"})
		case !d.Up():
			state := "(NA)"
			if d.State != nil {
				state = strings.TrimSpace(*d.State)
			}
			m := Missing{Name: name, Why: state}
			if d.Open() {
				m.Why = state + ": held open while its target was away; the driver revives it only on revalidate, so 'aoe revalidate " + name + "' may be needed"
				m.Revalidate = name
			}
			missing = append(missing, m)
		}
	}
	return missing
}
