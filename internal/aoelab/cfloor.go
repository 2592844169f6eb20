package aoelab

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// BuildCFloor compiles the C floor (floor/cfloor/cfloor.c) static, with
// warnings as errors, into dir and returns its path: for TestCFloor and
// for make bench-vm's guest.
func BuildCFloor(tb testing.TB, dir string) string {
	tb.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		tb.Fatal("gcc is needed for the C floor (apt-get install gcc libc6-dev)")
	}
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "floor", "cfloor", "cfloor.c")
	bin := filepath.Join(dir, "cfloor")
	if out, err := exec.Command(gcc, "-O2", "-static", "-Wall", "-Wextra", "-Werror", "-o", bin, src).CombinedOutput(); err != nil {
		tb.Fatalf("gcc %s (apt-get install gcc libc6-dev): %v\n%s", src, err, out)
	}
	return bin
}
