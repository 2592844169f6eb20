//go:build e2e

package aoelab

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kernel is a Debian kernel package unpacked with dpkg -x (never installed
// on the host).
type Kernel struct {
	Version string // "6.1.0-56-amd64"
	Vmlinuz string
	// Modules is the directory of the package's modules
	// (lib/modules/VERSION/kernel).
	Modules string
}

// Module returns the path of a module file, such as "drivers/block/aoe/aoe.ko".
func (k Kernel) Module(rel string) string { return filepath.Join(k.Modules, rel) }

// FetchKernel downloads the linux-image-6.1.*-amd64 package that Debian's
// linux-image-amd64 depends on into cache (once) and unpacks it there.
func FetchKernel(t testing.TB, cache string) Kernel {
	t.Helper()
	out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		t.Fatalf("apt-cache depends linux-image-amd64: %v (run apt-get update)", err)
	}
	pkg := ""
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-6.1.") {
			pkg = f[1]
		}
	}
	if pkg == "" {
		t.Fatalf("no linux-image-6.1.*-amd64 dependency of linux-image-amd64:\n%s", out)
	}
	version := strings.TrimPrefix(pkg, "linux-image-")
	root := filepath.Join(cache, pkg)
	k := Kernel{
		Version: version,
		Vmlinuz: filepath.Join(root, "boot", "vmlinuz-"+version),
		Modules: filepath.Join(root, "lib", "modules", version, "kernel"),
	}
	if _, err := os.Stat(k.Vmlinuz); err == nil {
		return k
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	dl := exec.Command("apt-get", "download", "-qq", pkg)
	dl.Dir = cache
	if out, err := dl.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download %s: %v\n%s", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(cache, pkg+"_*.deb"))
	if len(debs) == 0 {
		t.Fatalf("apt-get download left no %s .deb in %s", pkg, cache)
	}
	if out, err := exec.Command("dpkg", "-x", debs[0], root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -x: %v\n%s", err, out)
	}
	os.Remove(debs[0])
	return k
}

// Bridge creates a bridge in ns and brings it up.
func (l *Lab) Bridge(ns, name string) {
	l.t.Helper()
	l.Run("ip", "-n", ns, "link", "add", name, "type", "bridge")
	l.Run("ip", "-n", ns, "link", "set", name, "up")
}

// Tap creates a tap interface in ns, attached to bridge and up.
func (l *Lab) Tap(ns, name, bridge string) {
	l.t.Helper()
	l.Run("ip", "-n", ns, "tuntap", "add", "dev", name, "mode", "tap")
	l.Run("ip", "-n", ns, "link", "set", name, "master", bridge, "up")
}

// Port creates a veth pair in ns whose end name has the given MAC and
// whose other end (name+"b") is a port of bridge, both up.
func (l *Lab) Port(ns, name, bridge string, mac net.HardwareAddr) {
	l.t.Helper()
	l.Run("ip", "-n", ns, "link", "add", name, "address", mac.String(), "type", "veth", "peer", "name", name+"b")
	l.Run("ip", "-n", ns, "link", "set", name+"b", "master", bridge, "up")
	l.Run("ip", "-n", ns, "link", "set", name, "up")
	l.WaitUp(ns, name)
}

// VM is a qemu virtual machine running a test kernel, driven through an
// agent on its second serial port.
type VM struct {
	t       testing.TB
	cmd     *exec.Cmd
	ctl     net.Conn
	rd      *bufio.Reader
	Console *SyncBuffer
	mu      sync.Mutex
	seq     int
}

// VMConfig describes a VM.
type VMConfig struct {
	Kernel Kernel
	// Modules are module paths relative to Kernel.Modules, copied to
	// /lib/modules in the guest (not loaded).
	Modules []string
	// Files maps guest paths to host files (copied, mode kept).
	Files map[string]string
	// Links maps guest symlink paths to their targets.
	Links map[string]string
	// Taps are the host tap interfaces, one e1000 NIC each (eth0, eth1...).
	Taps []string
	// Boot runs in the guest before the agent starts (after devtmpfs,
	// sysfs, proc, debugfs are mounted and the NICs are up).
	Boot string
	// CPUs is the number of vCPUs (default 1).
	CPUs int
}

// guestInit is /init: mount the pseudo filesystems, bring up the NICs, then
// serve commands on ttyS1: a line "ID BASE64(script)" runs the script, and
// the answer is "@@OUT ID", base64 stdout, "@@ERR ID", base64 stderr,
// "@@RC ID status".
const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/local/sbin:/usr/sbin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mkdir -p /mnt /run
insmod /lib/modules/e1000.ko
ip link set lo up
for i in /sys/class/net/eth*; do ip link set "${i##*/}" up; done
%s
stty -F /dev/ttyS1 raw -echo
exec 3<>/dev/ttyS1
echo "@@READY $(uname -r)" >&3
while read -r id script <&3; do
	echo "$script" | base64 -d > /tmp/agent.sh
	sh /tmp/agent.sh > /tmp/agent.out 2> /tmp/agent.err < /dev/null
	rc=$?
	{ echo "@@OUT $id"; base64 /tmp/agent.out; echo "@@ERR $id"; base64 /tmp/agent.err; echo "@@RC $id $rc"; } >&3
done
poweroff -f
`

// BootVM builds an initramfs and boots the kernel in qemu (TCG: KVM is not
// usable here) inside namespace ns, with one e1000 NIC per tap. It returns
// once the guest agent is ready.
func (l *Lab) BootVM(ns string, cfg VMConfig) *VM {
	t := l.t
	t.Helper()
	for _, tool := range []string{"qemu-system-x86_64", "cpio"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install qemu-system-x86 cpio busybox-static)", tool)
		}
	}
	busybox := "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		t.Fatal("busybox-static is needed (apt-get install busybox-static)")
	}
	dir := t.TempDir()
	stage := filepath.Join(dir, "root")
	copyFile := func(src, dst string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-L", "-p", src, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v: %s", src, err, out)
		}
	}
	copyFile(busybox, filepath.Join(stage, "bin", "busybox"))
	for _, m := range cfg.Modules {
		copyFile(cfg.Kernel.Module(m), filepath.Join(stage, "lib", "modules", filepath.Base(m)))
	}
	copyFile(cfg.Kernel.Module("drivers/net/ethernet/intel/e1000/e1000.ko"), filepath.Join(stage, "lib", "modules", "e1000.ko"))
	for guest, host := range cfg.Files {
		copyFile(host, filepath.Join(stage, guest))
	}
	for link, target := range cfg.Links {
		p := filepath.Join(stage, link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(stage, "init"), []byte(fmt.Sprintf(guestInit, cfg.Boot)), 0o755); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	pack := exec.Command("sh", "-c", "find . | LC_ALL=C sort | cpio -o -H newc --quiet > "+initrd)
	pack.Dir = stage
	if out, err := pack.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v: %s", err, out)
	}

	sock := filepath.Join(dir, "ctl.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	args := []string{"netns", "exec", ns, "qemu-system-x86_64",
		"-nodefaults", "-no-user-config", "-display", "none", "-accel", "tcg", "-m", "512", "-smp", fmt.Sprint(max(cfg.CPUs, 1)),
		"-kernel", cfg.Kernel.Vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 loglevel=4",
		"-no-reboot",
		"-serial", "file:" + filepath.Join(dir, "console.log"),
		"-chardev", "socket,id=ctl,path=" + sock,
		"-serial", "chardev:ctl",
	}
	vm, _ := l.startQEMU(t, args, cfg.Taps, filepath.Join(dir, "console.log"), ln, 5*time.Minute)
	return vm
}

// startQEMU starts qemu (args: "netns exec NS qemu-system-x86_64 ...")
// with an e1000 NIC on each tap, and waits for its agent on the control
// port ln (see connect). consoleLog returns what the guest printed.
func (l *Lab) startQEMU(t testing.TB, args, taps []string, consoleFile string, ln net.Listener, boot time.Duration) (vm *VM, consoleLog func() string) {
	t.Helper()
	for i, tap := range taps {
		args = append(args, "-netdev", fmt.Sprintf("tap,id=n%d,ifname=%s,script=no,downscript=no", i, tap),
			"-device", fmt.Sprintf("e1000,netdev=n%d,mac=52:54:00:ae:00:%02x", i, i+1))
	}
	cmd := exec.Command("ip", args...)
	console := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = console, console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.procs = append(l.procs, cmd)
	l.mu.Unlock()
	vm = &VM{t: t, cmd: cmd, Console: console}
	consoleLog = func() string {
		b, _ := os.ReadFile(consoleFile)
		return console.String() + string(b)
	}
	vm.connect(t, ln, consoleLog, boot)
	return vm, consoleLog
}

// connect waits for qemu to connect the control port listened on by ln,
// then for the guest's agent to say @@READY (within boot), and closes the
// port at the end of the test (printing the console if the test failed).
func (vm *VM) connect(t testing.TB, ln net.Listener, consoleLog func() string, boot time.Duration) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	select {
	case vm.ctl = <-accepted:
	case <-time.After(60 * time.Second):
		t.Fatalf("qemu did not connect its control port:\n%s", consoleLog())
	}
	vm.rd = bufio.NewReader(vm.ctl)
	ready := make(chan string, 1)
	go func() {
		for {
			line, err := vm.rd.ReadString('\n')
			if err != nil {
				close(ready)
				return
			}
			if strings.HasPrefix(line, "@@READY") {
				ready <- strings.TrimSpace(line)
				return
			}
		}
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			t.Fatalf("the guest closed its control port:\n%s", consoleLog())
		}
		t.Logf("guest up after boot: %s", line)
	case <-time.After(boot):
		t.Fatalf("the guest did not come up:\n%s", consoleLog())
	}
	t.Cleanup(func() {
		vm.ctl.Close()
		if t.Failed() {
			t.Logf("guest console:\n%s", consoleLog())
		}
	})
}

// Result is what a guest command did.
type Result struct {
	Stdout, Stderr string
	Status         int
}

// Run runs a shell script in the guest and returns its output and exit
// status. It fails the test if the guest does not answer within timeout.
func (vm *VM) Run(script string, timeout time.Duration) Result {
	vm.t.Helper()
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.seq++
	id := strconv.Itoa(vm.seq)
	if _, err := fmt.Fprintf(vm.ctl, "%s %s\n", id, base64.StdEncoding.EncodeToString([]byte(script))); err != nil {
		vm.t.Fatalf("guest control: %v", err)
	}
	vm.ctl.SetReadDeadline(time.Now().Add(timeout))
	defer vm.ctl.SetReadDeadline(time.Time{})
	var res Result
	var section *strings.Builder
	var out, errb strings.Builder
	for {
		line, err := vm.rd.ReadString('\n')
		if err != nil {
			vm.t.Fatalf("guest: %q did not finish within %v: %v", script, timeout, err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "@@OUT "+id:
			section = &out
		case line == "@@ERR "+id:
			section = &errb
		case strings.HasPrefix(line, "@@RC "+id+" "):
			res.Status, _ = strconv.Atoi(strings.TrimPrefix(line, "@@RC "+id+" "))
			o, err1 := base64.StdEncoding.DecodeString(out.String())
			e, err2 := base64.StdEncoding.DecodeString(errb.String())
			if err1 != nil || err2 != nil {
				vm.t.Fatalf("guest output does not decode: %v %v", err1, err2)
			}
			res.Stdout, res.Stderr = string(o), string(e)
			return res
		case section != nil:
			section.WriteString(line)
		}
	}
}
