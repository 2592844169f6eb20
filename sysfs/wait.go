package sysfs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// WaitConfig says which devices WaitUp waits for and how.
type WaitConfig struct {
	// Names are the devices, canonical names ("e1.2").
	Names []string
	// Timeout bounds the wait.
	Timeout time.Duration
	// Poll is how often sysfs is read; Rediscover how often discovery is
	// asked for again.
	Poll, Rediscover time.Duration
}

// Missing is an awaited device that is not up.
type Missing struct {
	Name string
	// State is the device's state ("down", "down,closewait"), "" when
	// the driver does not know the device.
	State string
	// Closewait says that the device is held open while down: the driver
	// revives it only on revalidate, which WaitUp wrote for it.
	Closewait bool
}

// WaitTimeoutError is returned by WaitUp when the timeout runs out, with
// the devices that were not up.
type WaitTimeoutError struct {
	Timeout time.Duration
	Missing []Missing
}

func (e *WaitTimeoutError) Error() string {
	var s []string
	for _, m := range e.Missing {
		switch {
		case m.State == "":
			s = append(s, m.Name+" (not found)")
		case m.Closewait:
			s = append(s, fmt.Sprintf("%s (%s: held open while its target was away; the driver revives it only on revalidate, so 'aoe revalidate %s' may be needed)", m.Name, m.State, m.Name))
		default:
			s = append(s, m.Name+" ("+m.State+")")
		}
	}
	return fmt.Sprintf("timed out after %v waiting for %s", e.Timeout, strings.Join(s, ", "))
}

// WaitUp waits until every device of cfg.Names is in the sysfs tree at
// h.Sys with state up. The caller has just asked for discovery; WaitUp asks
// again every cfg.Rediscover by writing to ctl's discover node. A named
// device that is down,closewait (held open while its target was away) is
// revived by the driver only on revalidate: after each discovery WaitUp
// writes revalidate for it, and keeps waiting.
//
// It returns nil when all are up, a *WaitTimeoutError when the timeout runs
// out, ctx.Err() when ctx ends, or the error of a control-node write (a
// *NodeError when a node is missing).
func (h Host) WaitUp(ctx context.Context, ctl Control, cfg WaitConfig) error {
	deadline := time.Now().Add(cfg.Timeout)
	lastDiscover := time.Now()
	discovered := true // the caller just asked for discovery
	ticker := time.NewTicker(cfg.Poll)
	defer ticker.Stop()
	for {
		missing := h.notUp(cfg.Names)
		if len(missing) == 0 {
			return nil
		}
		if discovered {
			discovered = false
			for _, m := range missing {
				if !m.Closewait {
					continue
				}
				err := ctl.Write(NodeRevalidate, []byte(m.Name+"\n"))
				var ne *NodeError
				if errors.As(err, &ne) {
					return err
				}
				// Any other error (EINVAL: the driver no longer knows
				// it) is for the next round to tell.
			}
		}
		now := time.Now()
		if !now.Before(deadline) {
			return &WaitTimeoutError{Timeout: cfg.Timeout, Missing: missing}
		}
		if now.Sub(lastDiscover) >= cfg.Rediscover {
			if err := ctl.Write(NodeDiscover, []byte("\n")); err != nil {
				return err
			}
			lastDiscover, discovered = now, true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// notUp lists the awaited devices that are not up.
func (h Host) notUp(names []string) []Missing {
	fs, fserr := NewFS(h.Sys)
	var missing []Missing
	for _, name := range names {
		if fserr != nil {
			missing = append(missing, Missing{Name: name})
			continue
		}
		d, err := fs.Device(name)
		switch {
		case err != nil:
			missing = append(missing, Missing{Name: name})
		case !d.Up():
			state := "(NA)"
			if d.State != nil {
				state = strings.TrimSpace(*d.State)
			}
			missing = append(missing, Missing{Name: name, State: state, Closewait: d.Open()})
		}
	}
	return missing
}
