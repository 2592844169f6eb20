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

	"github.com/goaoe/aoe/cmd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.Main(ctx, os.Args, cmd.DefaultEnv(toolVersion()))
	stop()
	os.Exit(code)
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
