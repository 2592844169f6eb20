package aoectl

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goaoe/aoe/sysfs"
	"golang.org/x/sys/unix"
)

func TestSetInterfaces(t *testing.T) {
	root := copyFixture(t, "basic")
	var written []string
	ctl := Control{Dir: "/nonexistent", Writer: func(path string, data []byte) error {
		written = append(written, path+" "+string(data))
		return nil
	}}
	h := sysfs.Host{Sys: root}
	param := filepath.Join(root, "module/aoe/parameters/aoe_iflist")

	var long *ListTooLongError
	if err := SetInterfaces(h, ctl, strings.Fields(strings.Repeat("eth0 ", 205))); !errors.As(err, &long) || long.Len != 1024 {
		t.Errorf("1,024 bytes: %v", err)
	}
	var unknown *UnknownInterfacesError
	if err := SetInterfaces(h, ctl, []string{"bogus0", "eth0", "../net"}); !errors.As(err, &unknown) || !reflect.DeepEqual(unknown.Names, []string{"bogus0", "../net"}) {
		t.Errorf("bad names: %v", err)
	}
	if err := SetInterfaces(h, ctl, strings.Fields(strings.Repeat("eth0 ", 203)+"eth1")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(param); len(b) != 1020 || b[1019] != 0 {
		t.Errorf("parameter has %d bytes", len(b))
	}
	// A FIFO in place of the parameter: the open fails (no reader) instead
	// of blocking.
	os.Remove(param)
	if err := unix.Mkfifo(param, 0o600); err != nil {
		t.Fatal(err)
	}
	var pe *ParamError
	if err := SetInterfaces(h, ctl, []string{"eth0"}); !errors.As(err, &pe) {
		t.Errorf("FIFO parameter: %v", err)
	}
	// No writable parameter: the interfaces node gets the list.
	os.Remove(param)
	if err := SetInterfaces(h, ctl, []string{"eth0", "eth1"}); err != nil || len(written) != 1 || written[0] != "/nonexistent/interfaces eth0 eth1\x00" {
		t.Errorf("node write: %v %q", err, written)
	}
	if len(written) != 1 {
		t.Errorf("writes %q", written)
	}
}

// copyFixture copies a fixture tree of the sysfs package (symlinks kept)
// into a temporary directory.
func copyFixture(t *testing.T, tree string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), tree)
	if out, err := exec.Command("cp", "-a", filepath.Join("..", "..", "sysfs", "testdata", tree), dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}
