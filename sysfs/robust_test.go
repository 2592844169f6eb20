package sysfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// copyFixture copies a fixture tree (symlinks kept) into a temporary
// directory.
func copyFixture(t *testing.T, tree string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), tree)
	if out, err := exec.Command("cp", "-a", filepath.Join("testdata", tree), dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

func names(devs []Device) []string {
	var out []string
	for _, d := range devs {
		out = append(out, d.Name)
	}
	return out
}

// TestDevicesSkipsBadEntries: a symlink loop and an unreadable entry in
// block/ are skipped and reported; a dangling link and an emptied directory
// (devices that vanished) are left out silently; the rest is listed.
func TestDevicesSkipsBadEntries(t *testing.T) {
	root := copyFixture(t, "basic")
	block := filepath.Join(root, "block")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("etherd!e5.5", filepath.Join(block, "etherd!e5.5")))    // loop
	must(os.Symlink("../nonexistent", filepath.Join(block, "etherd!e5.6"))) // vanished
	must(os.Symlink("/dev/null", filepath.Join(block, "etherd!e5.7")))      // not a directory
	must(os.MkdirAll(filepath.Join(root, "devices/virtual/block/etherd!e5.8"), 0o755))
	must(os.Symlink("../devices/virtual/block/etherd!e5.8", filepath.Join(block, "etherd!e5.8"))) // emptied
	fs, err := NewFS(root)
	must(err)
	devs, skipped, err := fs.Devices()
	must(err)
	if got := names(devs); len(got) != 4 || got[0] != "e1.2" || got[3] != "e7.0" {
		t.Errorf("devices %q", got)
	}
	if len(skipped) != 2 {
		t.Fatalf("skipped %v, want the loop and the non-directory", skipped)
	}
	var de *DeviceError
	if !errors.As(skipped[0], &de) || !errors.Is(skipped[0], unix.ELOOP) || de.Name != "e5.5" {
		t.Errorf("skipped[0] = %#v, want a *DeviceError for e5.5 wrapping ELOOP", skipped[0])
	}
	if !errors.Is(skipped[1], unix.ENOTDIR) {
		t.Errorf("skipped[1] = %v, want ENOTDIR", skipped[1])
	}
	if _, err := fs.Device("e5.8"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Device(emptied e5.8) = %v, want ErrNotExist", err)
	}
}

// TestDevicesNonRegularAttribute: a FIFO planted as an attribute neither
// blocks the read nor gives a value; ReadAttr refuses it.
func TestDevicesNonRegularAttribute(t *testing.T) {
	root := copyFixture(t, "basic")
	state := filepath.Join(root, "devices/virtual/block/etherd!e1.2/state")
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(state, 0o644); err != nil {
		t.Fatal(err)
	}
	fs, _ := NewFS(root)
	done := make(chan Device)
	go func() {
		d, _ := fs.Device("e1.2")
		done <- d
	}()
	select {
	case d := <-done:
		if d.State != nil || d.Size == nil {
			t.Errorf("state %v size %v", d.State, d.Size)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a device with a FIFO attribute blocked")
	}
	if _, err := ReadAttr(state); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadAttr(FIFO) = %v, want ErrNotRegular", err)
	}
}

// TestDevicesWhileVanishing lists a tree while a device directory is
// removed and recreated over and over (as flush and rediscovery do): a
// device is either listed with its attributes or not at all, never with
// every field nil.
func TestDevicesWhileVanishing(t *testing.T) {
	root := copyFixture(t, "basic")
	dir := filepath.Join(root, "devices/virtual/block/etherd!e1.3")
	saved := t.TempDir()
	if out, err := exec.Command("cp", "-a", dir+"/.", saved).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	fs, _ := NewFS(root)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 20000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents { // empty it entry by entry, as kernfs does
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
			os.Remove(dir)
			os.MkdirAll(dir, 0o755)
			for _, a := range []string{"state", "size", "mac", "netif", "payload", "firmware-version", "dev"} {
				b, _ := os.ReadFile(filepath.Join(saved, a))
				os.WriteFile(filepath.Join(dir, a), b, 0o644)
			}
		}
	})
	deadline := time.Now().Add(2 * time.Second)
	for n := 0; n < 2000 && time.Now().Before(deadline); n++ {
		devs, skipped, err := fs.Devices()
		if err != nil || len(skipped) > 0 {
			t.Fatalf("Devices: %v %v", err, skipped)
		}
		for _, d := range devs {
			if d.State == nil && d.Size == nil && d.MAC == nil && d.NetIf == nil && d.Payload == nil && d.Dev == nil && d.Firmware == nil {
				t.Fatalf("%s listed with every attribute missing", d.Name)
			}
		}
	}
	close(stop)
	wg.Wait()
}
