package cmd

import (
	"errors"
	"io"
	"path/filepath"
	"syscall"
	"time"

	"github.com/goaoe/aoe/internal/events"
	"github.com/goaoe/aoe/internal/logline"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

type eventsOptions struct {
	*globalOptions
	json     bool
	interval time.Duration
	initial  bool
	noErr    bool
	noUevent bool
}

func newEventsCmd(g *globalOptions) *cobra.Command {
	o := &eventsOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Stream the aoe driver's changes as they happen",
		Long: `events prints the aoe driver's changes as they happen, one per line, until
interrupted (SIGINT or SIGTERM end it cleanly, with exit status 130 or 143
as for every command):

    present           a device there at the start (with --initial)
    appeared          a device appeared
    removed           a device went away (flushed)
    state             its state changed: up, down, down,closewait, up,kickme
    interface-added   a path's local interface appeared in netif
    interface-lost    an interface left netif (a path is gone)
    payload, size, mac   the attribute changed (size is 0 while down)
    driver-loaded, driver-unloaded
    retransmit, unexpected-response, unknown-device, driver-message
                      a message the driver queued on DEVDIR/err

Changes are found by reading SYSFS every --interval (at least 10ms; a
shorter one is a usage error) and at once when the kernel announces an
etherd block device (uevent). The driver's err messages are read when
DEVDIR/err exists and can be read (root or group disk); reads are
destructive, so another reader of err gets other messages.

Each line starts with the time (UTC, RFC 3339). With --json each event is
one JSON object per line: time, event, device, old, new, interface,
message, source (poll, uevent or err); a field the event has none of is
null (the schema: docs/json.md). Strings from the driver have control
bytes escaped as \xNN.` + exitCodesHelp,
		Example: `  aoe events
  aoe events --json | jq -r 'select(.event == "state") | "\(.device) \(.new)"'
  aoe events --initial --interval 5s`,
		Args: argsCheck(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runEvents(cmd, o) },
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "one JSON object per line")
	f.DurationVar(&o.interval, "interval", time.Second, "how often to read sysfs (at least "+events.MinInterval.String()+")")
	f.BoolVar(&o.initial, "initial", false, "first report the devices present (event present)")
	f.BoolVar(&o.noErr, "no-err", false, "do not read DEVDIR/err (leave its messages to another reader)")
	f.BoolVar(&o.noUevent, "no-uevents", false, "poll only; do not listen to the kernel's uevents")
	return cmd
}

func runEvents(cmd *cobra.Command, o *eventsOptions) error {
	if o.interval < events.MinInterval {
		return usageErrorf("--interval must be at least %v, got %v", events.MinInterval, o.interval)
	}
	root := o.sysfsDir(cmd)
	if _, err := sysfs.NewFS(root); err != nil {
		return err
	}
	opts := events.Options{SysfsRoot: root, Interval: o.interval, Initial: o.initial, Uevents: !o.noUevent,
		Log: logline.New(func(s string) { o.warnf("%s", s) })}
	if !o.noErr {
		opts.ErrNode = filepath.Join(o.devDir, sysfs.NodeErr)
	}
	write := events.WriteHuman
	if o.json {
		write = events.WriteJSON
	}
	out := o.stdout()
	err := events.Watch(cmd.Context(), opts, func(e events.Event) error { return write(out, e) })
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrClosedPipe) {
		return nil // the reader went away (| head)
	}
	if err == nil {
		// Watch ends cleanly when the context is done: a signal (exit 130
		// or 143, as every command), never a success.
		err = cmd.Context().Err()
	}
	return err
}
