package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Options configure Watch.
type Options struct {
	// SysfsRoot is the sysfs tree to watch.
	SysfsRoot string
	// ErrNode is the driver's err node (/dev/etherd/err); empty, or a
	// missing node: not read.
	ErrNode string
	// Interval is the polling interval: 0 for the default, 1s; else at
	// least MinInterval.
	Interval time.Duration
	// Uevents makes the kernel's uevents trigger a poll at once.
	Uevents bool
	// Initial reports the devices present at the start (KindPresent).
	Initial bool
	// Log receives, as warnings, problems that do not stop the watch (no
	// uevent socket, an unreadable err node, a failed poll); nil: none.
	Log *slog.Logger
}

// MinInterval is the shortest polling interval: each poll reads every
// device's attributes, and a shorter interval only burns a CPU.
const MinInterval = 10 * time.Millisecond

// Watch reports the driver's changes to emit until ctx is done, and then
// returns nil. It fails (ErrInterval) for an interval below MinInterval,
// when the first snapshot cannot be taken, or with emit's error (such as a
// closed output).
func Watch(ctx context.Context, o Options, emit func(Event) error) error {
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Interval < MinInterval {
		return fmt.Errorf("%w: %v is less than %v", ErrInterval, o.Interval, MinInterval)
	}
	warn := func(err error) {
		if o.Log != nil && err != nil && ctx.Err() == nil {
			o.Log.Warn(err.Error())
		}
	}
	prev, err := Take(o.SysfsRoot)
	if err != nil {
		return err
	}
	send := func(evs []Event, src string) error {
		now := time.Now()
		for _, e := range evs {
			e.Time = now
			if e.Source == "" {
				e.Source = src
			}
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}
	if o.Initial {
		if err := send(Present(prev), SourcePoll); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	trigger := make(chan struct{}, 1)
	msgs := make(chan string, 128)
	done := make(chan struct{}, 2)
	running := 0
	if o.Uevents {
		running++
		go func() {
			defer func() { done <- struct{}{} }()
			warn(uevents(ctx, func(Uevent) {
				select {
				case trigger <- struct{}{}:
				default:
				}
			}))
		}()
	}
	if o.ErrNode != "" {
		running++
		go func() {
			defer func() { done <- struct{}{} }()
			err := readErrNode(ctx, o.ErrNode, func(m string) {
				select {
				case msgs <- m:
				case <-ctx.Done():
				}
			})
			if !errors.Is(err, os.ErrNotExist) {
				warn(err)
			}
		}()
	}
	defer func() {
		cancel()
		for ; running > 0; running-- {
			<-done // the readers notice ctx within 200ms
		}
	}()
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		src := SourcePoll
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			if err := send([]Event{ParseErrMessage(m)}, SourceErr); err != nil {
				return err
			}
			continue
		case <-trigger:
			src = SourceUevent
		case <-tick.C:
		}
		cur, err := Take(o.SysfsRoot)
		if err != nil {
			warn(err)
			continue
		}
		evs := Diff(prev, cur)
		prev = cur
		if err := send(evs, src); err != nil {
			return err
		}
	}
}
