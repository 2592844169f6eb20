package aoectl

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/goaoe/aoe/sysfs"
	"golang.org/x/sys/unix"
)

func TestVerifyNode(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "discover")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want error
	}{
		{filepath.Join(dir, "missing"), ErrNodeNotWritable},
		{regular, ErrNotCharDevice},
		{"/dev/null", ErrNotAoENode}, // a character device, 1:3
	}
	for _, tt := range tests {
		err := VerifyNode(tt.path, 3)
		if !errors.Is(err, tt.want) {
			t.Errorf("VerifyNode(%s) = %v, want %v", tt.path, err, tt.want)
		}
	}
	var ne *NodeError
	if err := VerifyNode("/dev/null", 3); !errors.As(err, &ne) || ne.Major != 1 || ne.Minor != 3 ||
		ne.Error() != "/dev/null is not the aoe driver's control device (it is 1:3, want 152:3)" {
		t.Errorf("VerifyNode(/dev/null) = %v", err)
	}
}

// TestControlWriteRealNode makes a character node 152:3 and writes to it:
// the checks pass, and with no aoe driver in this kernel the open fails with
// ENXIO (with one, the write would reach it).
func TestControlWriteRealNode(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root (mknod), and CI must run as root")
		}
		t.Skip("needs root for mknod")
	}
	dir := t.TempDir()
	if err := unix.Mknod(filepath.Join(dir, sysfs.NodeDiscover), unix.S_IFCHR|0o200, int(unix.Mkdev(sysfs.Major, 3))); err != nil {
		t.Fatal(err)
	}
	c := Control{Dir: dir}
	if err := c.Check(sysfs.NodeDiscover); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// The node has the discover minor, not the flush one.
	if err := os.Rename(filepath.Join(dir, sysfs.NodeDiscover), filepath.Join(dir, sysfs.NodeFlush)); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(sysfs.NodeFlush, []byte("all")); !errors.Is(err, ErrNotAoENode) {
		t.Errorf("Write(flush) on a 152:3 node = %v, want ErrNotAoENode", err)
	}
	if err := os.Rename(filepath.Join(dir, sysfs.NodeFlush), filepath.Join(dir, sysfs.NodeDiscover)); err != nil {
		t.Fatal(err)
	}
	err := c.Write(sysfs.NodeDiscover, []byte("\n"))
	if _, loaded := os.Stat("/sys/module/aoe"); loaded == nil {
		if err != nil {
			t.Errorf("Write with the aoe driver loaded: %v", err)
		}
		return
	}
	if !errors.Is(err, unix.ENXIO) && !errors.Is(err, unix.ENODEV) {
		t.Errorf("Write without a driver = %v, want ENXIO or ENODEV", err)
	}
}
