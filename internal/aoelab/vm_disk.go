//go:build e2e

package aoelab

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// debianImageScript builds the Debian 12 image of the boot tests; its hash
// is the cache key.
//
//go:embed debian-image.sh
var debianImageScript []byte

// debianDracutImageScript builds the image of the dracut boot test.
//
//go:embed debian-dracut-image.sh
var debianDracutImageScript []byte

// DebianImage is a Debian 12 root file system with systemd as PID 1 and
// aoetools installed, with the kernel and initramfs it boots with.
type DebianImage struct {
	Root    string // raw ext4 image (never written: boots use overlays)
	Vmlinuz string
	Initrd  string
	// Built is how long building it took (0 when it came from the cache).
	Built time.Duration
}

// FetchDebianImage returns the image in cache, building it with mmdebstrap
// from Debian's archive when the cache has none for this recipe.
func FetchDebianImage(t testing.TB, cache string) DebianImage {
	t.Helper()
	return fetchImage(t, cache, "debian12-", debianImageScript)
}

// FetchDebianDracutImage returns the image of the dracut boot test: Debian
// 12 whose initramfs dracut makes, without aoetools (built once, cached as
// FetchDebianImage's).
func FetchDebianDracutImage(t testing.TB, cache string) DebianImage {
	t.Helper()
	return fetchImage(t, cache, "debian12-dracut-", debianDracutImageScript)
}

func fetchImage(t testing.TB, cache, prefix string, recipe []byte) DebianImage {
	t.Helper()
	sum := sha256.Sum256(recipe)
	dir := filepath.Join(cache, prefix+hex.EncodeToString(sum[:])[:12])
	img := DebianImage{Root: filepath.Join(dir, "root.img"), Vmlinuz: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
	if _, err := os.Stat(img.Root); err == nil {
		return img
	}
	for _, tool := range []string{"mmdebstrap", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install mmdebstrap e2fsprogs)", tool)
		}
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(tmp, "build.sh")
	if err := os.WriteFile(script, recipe, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if out, err := exec.Command("sh", script, tmp).CombinedOutput(); err != nil {
		t.Fatalf("building the Debian image: %v\n%s", err, out)
	}
	img.Built = time.Since(start)
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return img
}

// DiskVMConfig describes a VM booting a disk image.
type DiskVMConfig struct {
	Image DebianImage
	// Overlay is the copy-on-write disk over Image.Root the VM writes
	// (qemu-img create -b); reuse it to boot the same system again.
	Overlay string
	// Extra are raw files attached read-only as /dev/vdb, /dev/vdc...
	Extra []string
	Taps  []string
	// Root is the root= of the kernel command line (default /dev/vda,
	// the overlay). With another root and no Overlay, no root disk is
	// attached (root on AoE).
	Root string
	// Append is added to the kernel command line.
	Append string
}

// NewOverlay creates a qcow2 overlay over a raw base image.
func NewOverlay(t testing.TB, base string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "overlay.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, p).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create (apt-get install qemu-utils): %v: %s", err, out)
	}
	return p
}

// DiskVM is a VM booted from a disk image.
type DiskVM struct {
	*VM
	consoleLog func() string
}

// BootDisk boots the image's kernel with the overlay as root (/dev/vda)
// inside namespace ns, one e1000 NIC per tap (eth0...), and returns once the
// image's agent answers on the second serial port.
func (l *Lab) BootDisk(ns string, cfg DiskVMConfig) *DiskVM {
	t := l.t
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	consoleFile := filepath.Join(dir, "console.log")
	root := cfg.Root
	if root == "" {
		root = "/dev/vda"
	}
	args := []string{"netns", "exec", ns, "qemu-system-x86_64",
		"-nodefaults", "-no-user-config", "-display", "none", "-accel", "tcg", "-m", "1024", "-smp", "1",
		"-kernel", cfg.Image.Vmlinuz, "-initrd", cfg.Image.Initrd,
		"-append", "root=" + root + " rw console=ttyS0 net.ifnames=0 panic=-1 " + cfg.Append,
		"-no-reboot",
		"-serial", "file:" + consoleFile,
		"-chardev", "socket,id=ctl,path=" + sock,
		"-serial", "chardev:ctl",
	}
	if cfg.Overlay != "" {
		args = append(args, "-drive", "file="+cfg.Overlay+",if=virtio,format=qcow2")
	}
	for _, x := range cfg.Extra {
		args = append(args, "-drive", "file="+x+",if=virtio,format=raw,readonly=on")
	}
	vm, consoleLog := l.startQEMU(t, args, cfg.Taps, consoleFile, ln, 10*time.Minute)
	return &DiskVM{VM: vm, consoleLog: consoleLog}
}

// Poweroff asks the guest to power off (systemctl poweroff) and waits until
// qemu has exited.
func (vm *DiskVM) Poweroff(timeout time.Duration) {
	vm.t.Helper()
	fmt.Fprintf(vm.ctl, "off %s\n", "c3lzdGVtY3RsIHBvd2Vyb2ZmCg==") // "systemctl poweroff"
	done := make(chan error, 1)
	go func() { done <- vm.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		vm.cmd.Process.Kill()
		vm.t.Fatalf("the guest did not power off within %v:\n%s", timeout, vm.consoleLog())
	}
	vm.ctl.Close()
}

// ConsoleLog returns the guest's console so far.
func (vm *DiskVM) ConsoleLog() string { return vm.consoleLog() }
