// Command aoe manages ATA over Ethernet storage; see aoe(8). Invoked through
// a symlink named after an aoetools command (aoe-stat, aoe-discover, ...) it
// behaves as that command.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/goaoe/aoe/cmd"
)

// version is set at build time with -ldflags "-X main.version=..." (the
// Makefile gives the tree's VERSION plus the commit: 0.9.0+git.59921dc).
var version string

// grace is how long a command may take to end after SIGINT or SIGTERM
// before the process leaves without it (a write the kernel restarts, say).
const grace = 2 * time.Second

func main() {
	os.Exit(run(os.Args, cmd.DefaultEnv(toolVersion()), grace))
}

// run runs the command line until it ends. SIGINT and SIGTERM cancel its
// context; if it has not ended grace later, run returns anyway. The code is
// the command's, or 130 (SIGINT) / 143 (SIGTERM) when a signal ended it.
func run(argv []string, env *cmd.Env, grace time.Duration) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan int, 1)
	go func() { done <- cmd.Main(ctx, argv, env) }()
	select {
	case code := <-done:
		return code
	case s := <-sigs:
		se := &cmd.SignalError{Signal: s.(syscall.Signal)}
		cancel(se)
		select {
		case code := <-done:
			return code
		case <-time.After(grace):
			return se.Code()
		}
	}
}

// toolVersion is the version set at build time; else the module's (go
// install ...@v1.2.3); else "devel", with the commit go build recorded as
// build metadata (devel+git.59921dc).
func toolVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(version, bi)
}

func versionFrom(set string, bi *debug.BuildInfo) string {
	if set != "" {
		return set
	}
	if bi == nil {
		return "devel"
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	v := "devel"
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ".dirty"
			}
		}
	}
	if len(rev) >= 7 {
		v += "+git." + rev[:7] + dirty
	}
	return v
}
