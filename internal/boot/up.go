package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/internal/safetext"
	"github.com/goaoe/aoe/sysfs"
	"golang.org/x/sys/unix"
)

// Env is what Up and Down touch. Tests fill it with fixture trees and fakes.
type Env struct {
	SysfsRoot string // /sys
	DevDir    string // /dev/etherd
	// Modprobe runs modprobe with args ("aoe", "aoe_iflist=eth0 eth1").
	Modprobe func(ctx context.Context, args ...string) error
	// Control writes the driver's control nodes (its Writer may record).
	Control aoectl.Control
	// CheckNode verifies that a control node ("discover") is usable
	// (Control.Check when nil).
	CheckNode func(node string) error
	// Clock is the time the waits read and sleep on.
	Clock aoectl.Clock
	// IsBlockDevice reports whether path is a block device node.
	IsBlockDevice func(path string) bool
	// Resolve finds the device of an fstab source awaited (UUID=...,
	// /dev/disk/...); nil: such sources are never found.
	Resolve Resolver
	// Log receives progress (to the journal, through stderr); nil: none.
	Log *slog.Logger
	// Poll is how often state is read while waiting, Rediscover how often
	// discovery is asked for again.
	Poll, Rediscover time.Duration
}

// DefaultEnv returns the running system's environment.
func DefaultEnv(sysfsRoot, devDir string, log *slog.Logger) Env {
	return Env{
		SysfsRoot: sysfsRoot,
		DevDir:    devDir,
		Modprobe: func(ctx context.Context, args ...string) error {
			out, err := exec.CommandContext(ctx, "modprobe", args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("modprobe %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
			}
			return nil
		},
		Control: aoectl.Control{Dir: devDir},
		Clock:   aoectl.RealClock(),
		IsBlockDevice: func(path string) bool {
			var st unix.Stat_t
			return unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK
		},
		Resolve:    DevResolver(filepath.Dir(filepath.Clean(devDir))),
		Log:        log,
		Poll:       250 * time.Millisecond,
		Rediscover: 5 * time.Second,
	}
}

// logger returns env.Log, or a logger that discards.
func (env Env) logger() *slog.Logger {
	if env.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return env.Log
}

// UpResult is what Up did.
type UpResult struct {
	// Off is true when the configuration leaves boot discovery off:
	// nothing was done.
	Off bool
	// Loaded is true when Up loaded the driver.
	Loaded bool
	// Ready are the awaited devices, all present, and the fstab sources
	// found (UUID=... on e1.2p1).
	Ready []string
	// NotFound are the fstab sources (UUID=..., see IsFstabSource) that
	// had not appeared at the timeout: not known to be on AoE disks, they
	// do not fail Up.
	NotFound []string
}

// Up brings AoE up as cfg says: when cfg.Boot is off it does nothing. Else
// it loads the driver (modprobe aoe aoe_iflist=...) unless it is there, sets
// the interface list, asks for discovery, and waits until every device of
// cfg.Wait is up in sysfs, its partitions exist, and each has its block
// node in DevDir, asking for discovery again every env.Rediscover; an fstab
// source of cfg.Wait (UUID=..., see IsFstabSource) is ready when it
// resolves, and if it resolves to an AoE device, when that device is. The
// fstab sources still missing at the timeout are reported in NotFound, not
// as an error: nothing said they were AoE disks. Running it again is
// harmless. Errors: ErrNoInterface, ErrNoDriver (modprobe
// failed or the control nodes did not appear), an *aoectl.TimeoutError
// (matching aoectl.ErrTimeout) naming what is missing, ctx.Err(), or a
// control-node write error.
func Up(ctx context.Context, env Env, cfg Config) (UpResult, error) {
	var res UpResult
	if !cfg.Boot {
		res.Off = true
		return res, nil
	}
	deadline := env.Clock.Now().Add(cfg.Timeout)
	for _, n := range cfg.Interfaces {
		if _, err := os.Stat(filepath.Join(env.SysfsRoot, "class", "net", n)); err != nil {
			return res, fmt.Errorf("%s: %w", quoteForMsg(n), ErrNoInterface)
		}
	}
	loaded, err := loadDriver(ctx, env, cfg)
	if err != nil {
		return res, err
	}
	res.Loaded = loaded
	if err := waitNodes(ctx, env, deadline, cfg.Timeout); err != nil {
		return res, err
	}
	if !loaded && !cfg.AllInterfaces {
		// The driver was there already: restrict it now.
		value := []byte(strings.Join(cfg.Interfaces, " ") + "\x00")
		if err := env.Control.Write(sysfs.NodeInterfaces, value); err != nil {
			return res, err
		}
	}
	notFound, err := waitDevices(ctx, env, cfg, deadline)
	if err != nil {
		return res, err
	}
	for _, w := range cfg.Wait {
		if hasOpt(notFound, w) {
			res.NotFound = append(res.NotFound, w)
			env.logger().Warn(fmt.Sprintf("%s not found after %v: if it is on an AoE disk, that disk did not appear", w, cfg.Timeout))
			continue
		}
		res.Ready = append(res.Ready, describeReady(env, w))
	}
	return res, nil
}

// describeReady names a ready wait item: an fstab source with its device
// ("UUID=0f3c... on e1.2p1").
func describeReady(env Env, item string) string {
	if !IsFstabSource(item) || env.Resolve == nil {
		return item
	}
	dev, ok := env.Resolve(item)
	if !ok {
		return item
	}
	if name, isAoE := AoEName(dev); isAoE {
		dev = name
	}
	return item + " on " + dev
}

// loadDriver loads the aoe driver restricted to cfg's interfaces, unless it
// is loaded already (or built in).
func loadDriver(ctx context.Context, env Env, cfg Config) (bool, error) {
	if (sysfs.Host{Sys: env.SysfsRoot}).ModuleLoaded() {
		return false, nil
	}
	args := []string{"aoe"}
	if !cfg.AllInterfaces {
		args = append(args, "aoe_iflist="+strings.Join(cfg.Interfaces, " "))
	}
	env.logger().Info("loading the aoe driver: modprobe " + strings.Join(args, " "))
	if err := env.Modprobe(ctx, args...); err != nil {
		return false, fmt.Errorf("%w: %v", ErrNoDriver, err)
	}
	return true, nil
}

// waitNodes waits until the discover and interfaces control nodes exist
// (udev or devtmpfs makes them after the driver loads).
func waitNodes(ctx context.Context, env Env, deadline time.Time, timeout time.Duration) error {
	for {
		check := env.CheckNode
		if check == nil {
			check = env.Control.Check
		}
		errD := check(sysfs.NodeDiscover)
		errI := check(sysfs.NodeInterfaces)
		if errD == nil && errI == nil {
			return nil
		}
		if !env.Clock.Now().Before(deadline) {
			return fmt.Errorf("%w: after %v: %v", ErrNoDriver, timeout, errors.Join(errD, errI))
		}
		if err := env.Clock.Sleep(ctx, env.Poll); err != nil {
			return err
		}
	}
}

// waitDevices asks for discovery and waits for cfg.Wait (aoectl.Wait). At
// the timeout it fails when an AoE device is missing, and returns the fstab
// sources not found when only such sources are.
func waitDevices(ctx context.Context, env Env, cfg Config, deadline time.Time) ([]string, error) {
	var last []missingItem
	w := aoectl.Wait{Control: env.Control, Timeout: cfg.Timeout, Deadline: deadline,
		Poll: env.Poll, Rediscover: env.Rediscover, Clock: env.Clock}
	err := w.Until(ctx, func() []aoectl.Missing {
		last = missingItems(env, cfg.Wait)
		out := make([]aoectl.Missing, len(last))
		for i, m := range last {
			out[i] = m.Missing
		}
		return out
	})
	if !errors.Is(err, aoectl.ErrTimeout) {
		return nil, err
	}
	var notFound []string
	for _, m := range last {
		if m.unresolved {
			notFound = append(notFound, m.Name)
		}
	}
	if len(notFound) == len(last) {
		return notFound, nil
	}
	return nil, err
}

// missingItem is an item of cfg.Wait that is not ready, as the wait
// reports it: "e1.2 (not found)", "e1.2 (down)", "e1.2p1 (no partition
// 1)", "e1.2p1 (no block device /dev/etherd/e1.2p1)", "UUID=0f3c... (not
// found)", "UUID=0f3c... (on e1.2p1: down)".
type missingItem struct {
	aoectl.Missing
	// unresolved: an fstab source that does not resolve (yet).
	unresolved bool
}

func missingItems(env Env, names []string) []missingItem {
	var out []missingItem
	fs := sysfs.FS{}
	if f, err := sysfs.NewFS(env.SysfsRoot); err == nil {
		fs = f
	}
	for _, n := range names {
		name, prefix := n, ""
		if IsFstabSource(n) {
			dev, ok := "", false
			if env.Resolve != nil {
				dev, ok = env.Resolve(n)
			}
			if !ok {
				out = append(out, missingItem{Missing: aoectl.Missing{Name: n, Why: "not found"}, unresolved: true})
				continue
			}
			aoe, isAoE := AoEName(dev)
			if !isAoE {
				continue // there, and not on AoE
			}
			name, prefix = aoe, "on "+aoe+": "
		}
		disk, part, err := parseDevice(name)
		if err != nil {
			out = append(out, missingItem{Missing: aoectl.Missing{Name: n, Why: "bad name"}})
			continue
		}
		if why := notReady(env, fs, disk, part); why != "" {
			out = append(out, missingItem{Missing: aoectl.Missing{Name: n, Why: prefix + why}})
		}
	}
	return out
}

func notReady(env Env, fs sysfs.FS, disk string, part int) string {
	if fs.Root() == "" {
		return "no sysfs"
	}
	d, err := fs.Device(disk)
	if err != nil {
		return "not found"
	}
	if !d.Up() {
		state := "no state"
		if d.State != nil {
			state = strings.TrimSpace(*d.State)
		}
		return safetext.String(state)
	}
	name := disk
	if part > 0 {
		found := false
		for _, p := range d.Partitions {
			if p.Number == part {
				found = true
			}
		}
		if !found {
			return fmt.Sprintf("no partition %d", part)
		}
		name = fmt.Sprintf("%sp%d", disk, part)
	}
	node := filepath.Join(env.DevDir, name)
	if !env.IsBlockDevice(node) {
		return "no block device " + node
	}
	return ""
}

// DownResult is what Down did.
type DownResult struct {
	Flushed []string // devices removed
	Kept    []string // devices still there (in use)
}

// Down asks the driver to forget every AoE device that is not in use (its
// "all" flush, which skips open devices itself: mounted, held by
// device-mapper or md, or open by a process), and reports what was removed
// and what is kept. It does nothing when the driver is not loaded. Errors:
// a control-node write error.
func Down(ctx context.Context, env Env) (DownResult, error) {
	var res DownResult
	if !(sysfs.Host{Sys: env.SysfsRoot}).ModuleLoaded() {
		return res, nil
	}
	fs, err := sysfs.NewFS(env.SysfsRoot)
	if err != nil {
		return res, err
	}
	before, _ := fs.DeviceNames()
	if len(before) == 0 {
		return res, nil
	}
	if err := env.Control.Write(sysfs.NodeFlush, []byte("all")); err != nil {
		return res, err
	}
	after, _ := fs.DeviceNames()
	for _, n := range before {
		if hasOpt(after, n) {
			res.Kept = append(res.Kept, n)
		} else {
			res.Flushed = append(res.Flushed, n)
		}
	}
	return res, ctx.Err()
}
