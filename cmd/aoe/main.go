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

// version is set at build time with -ldflags "-X main.version=...".
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

func toolVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
