//go:build e2e

// The boot test: a real Debian 12 with systemd as PID 1 in qemu, with
// Debian's aoetools installed, gets our .deb installed over it; vblade
// exports a disk with an ext4 partition. Checked: with no configuration no
// AoE frame leaves the VM during boot; once configured, the partition is
// mounted through fstab (_netdev) at boot and the system is not degraded;
// the package's files go with dpkg --purge. Run with `make e2e-boot` (root).

package boot_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// vmMAC is the MAC of the VM's eth0 (aoelab: 52:54:00:ae:00:01).
var vmMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0xae, 0x00, 0x01}

// frameCounter counts the AoE frames the VM sends, seen on its tap.
type frameCounter struct{ n atomic.Int64 }

func countFrames(t *testing.T, lab *aoelab.Lab, ns, tap string) *frameCounter {
	fc := &frameCounter{}
	lab.Do(ns, func() {
		ifi, err := net.InterfaceByName(tap)
		if err != nil {
			t.Fatal(err)
		}
		// ETH_P_ALL: frames arriving on a bridge port are taken by the
		// bridge before protocol-specific sockets see them.
		conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			buf := make([]byte, 9216)
			for {
				n, _, err := conn.ReadFrom(buf)
				if err != nil {
					return
				}
				if n >= 14 && net.HardwareAddr(buf[6:12]).String() == vmMAC.String() && binary.BigEndian.Uint16(buf[12:14]) == initiator.EtherType {
					fc.n.Add(1)
				}
			}
		}()
		t.Cleanup(func() { conn.Close() })
	})
	return fc
}

// diskWithExt4 makes a 64 MiB disk image with an MBR partition table and
// one Linux partition (from 1 MiB) holding an ext4 file system with a file
// "hello".
func diskWithExt4(t *testing.T, dir string) string {
	const size, start = 64 << 20, 2048
	img := filepath.Join(dir, "aoe-disk.img")
	mbr := make([]byte, 512)
	e := mbr[446:462]
	e[4] = 0x83 // Linux
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], size/512-start)
	mbr[510], mbr[511] = 0x55, 0xaa
	if err := os.WriteFile(img, mbr, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	content := filepath.Join(dir, "content")
	os.MkdirAll(content, 0o755)
	os.WriteFile(filepath.Join(content, "hello"), []byte("hello from AoE\n"), 0o644)
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-E", fmt.Sprintf("offset=%d", start*512), "-d", content, img, fmt.Sprintf("%dK", (size-start*512)/1024)).CombinedOutput()
	if err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	return img
}

// debDisk writes the .deb as a raw disk (padded to 512 bytes) and returns
// its path and the .deb's size: the guest reads it with head -c from /dev/vdb.
func debDisk(t *testing.T, deb, dir string) (string, int64) {
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatalf("%v (make e2e-boot builds the .deb first)", err)
	}
	p := filepath.Join(dir, "deb.img")
	pad := make([]byte, (512-len(b)%512)%512)
	if err := os.WriteFile(p, append(b, pad...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, int64(len(b))
}

// extractFile copies a file out of the VM's disk (qemu-img convert to raw,
// then debugfs, which reads ext4 without mounting it).
func extractFile(t *testing.T, overlay, path, dir string) string {
	t.Helper()
	raw := toRaw(t, overlay, dir)
	defer os.Remove(raw)
	return dumpFile(t, raw, path, dir)
}

// toRaw converts the VM's disk to a raw image.
func toRaw(t *testing.T, overlay, dir string) string {
	t.Helper()
	raw := filepath.Join(dir, "disk.raw")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", overlay, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	return raw
}

func dumpFile(t *testing.T, raw, path, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(path))
	if out, err := exec.Command("debugfs", "-R", "dump "+path+" "+dst, raw).CombinedOutput(); err != nil {
		t.Fatalf("debugfs dump %s: %v: %s", path, err, out)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Size() == 0 {
		t.Fatalf("%s was not extracted from the VM's disk: %v", path, err)
	}
	return dst
}

type guest struct {
	t  *testing.T
	vm *aoelab.DiskVM
}

func (g guest) must(script string) string {
	g.t.Helper()
	r := g.vm.Run(script, 10*time.Minute)
	if r.Status != 0 {
		g.t.Fatalf("guest: %s: exit %d\n%s%s", script, r.Status, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// long runs a script in the background in the guest and polls until it
// ends (a long dpkg run outlives no agent request), showing the processes
// if it does not end within timeout.
func (g guest) long(script string, timeout time.Duration) string {
	g.t.Helper()
	g.must("rm -f /root/job.rc; setsid sh -c '(" + strings.ReplaceAll(script, "'", `'\''`) + ") > /root/job.log 2>&1; echo $? > /root/job.rc' < /dev/null > /dev/null 2>&1 &")
	deadline := time.Now().Add(timeout)
	for {
		r := g.vm.Run("cat /root/job.rc 2>/dev/null", time.Minute)
		if rc := strings.TrimSpace(r.Stdout); rc != "" {
			out := g.must("cat /root/job.log")
			if rc != "0" {
				g.t.Fatalf("guest: %s: exit %s\n%s", script, rc, out)
			}
			return out
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("guest: %s: not done after %v\n%s", script, timeout, g.must("cat /root/job.log; for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done 2>/dev/null"))
		}
		time.Sleep(5 * time.Second)
	}
}

// settle waits for the end of boot and returns systemctl is-system-running.
func (g guest) settle() string {
	g.t.Helper()
	r := g.vm.Run("timeout 300 systemctl is-system-running --wait", 6*time.Minute)
	return strings.TrimSpace(r.Stdout)
}

func TestBootDebian(t *testing.T) {
	lab := aoelab.NewLab(t)
	cache := os.Getenv("AOE_E2E_CACHE")
	if cache == "" {
		cache = "/var/tmp/aoe-e2e-cache"
	}
	deb := os.Getenv("AOE_DEB")
	if deb == "" {
		t.Fatal("AOE_DEB is not set: run make e2e-boot")
	}
	t0 := time.Now()
	img := aoelab.FetchDebianImage(t, cache)
	if img.Built > 0 {
		t.Logf("built the Debian 12 image with mmdebstrap in %v", img.Built.Round(time.Second))
	} else {
		t.Logf("Debian 12 image from the cache (%s)", filepath.Dir(img.Root))
	}
	dir := t.TempDir()
	extra, debSize := debDisk(t, deb, dir)
	disk := diskWithExt4(t, dir)

	ns := lab.Namespace("boot")
	lab.Bridge(ns, "br0")
	lab.Tap(ns, "t0", "br0")
	lab.Port(ns, "v1", "br0", net.HardwareAddr{0x02, 0xae, 0, 1, 2, 1})
	lab.Vblade(ns, "v1", 1, 2, disk)
	overlay := aoelab.NewOverlay(t, img.Root)
	cfg := aoelab.DiskVMConfig{Image: img, Overlay: overlay, Extra: []string{extra}, Taps: []string{"t0"}}

	// Boot 1: Debian with aoetools as shipped, which loads the driver at
	// every boot: the capture sees its discovery (the control).
	fc := countFrames(t, lab, ns, "t0")
	start := time.Now()
	g := guest{t, lab.BootDisk(ns, cfg)}
	state := g.settle()
	out := g.must("lsmod | grep -w ^aoe || true")
	t.Logf("boot 1 (aoetools): %v, %s, %d AoE frames from the VM during boot; aoetools loaded the driver: %q", time.Since(start).Round(time.Second), state, fc.n.Load(), strings.TrimSpace(out))
	// The control: a discovery through aoetools must be seen by the
	// capture, else its zero below would prove nothing.
	g.must("aoe-discover; sleep 1")
	time.Sleep(time.Second)
	if fc.n.Load() == 0 {
		t.Fatalf("aoetools' aoe-discover sent no AoE frame that the capture saw: the capture does not work")
	}
	before := g.must("find / -xdev \\( -path /proc -o -path /sys -o -path /run -o -path /tmp -o -path /var/log -o -path /var/tmp -o -path /var/cache -o -path /var/lib/dpkg -o -path /var/lib/systemd \\) -prune -o -print | LC_ALL=C sort > /root/before.txt; wc -l < /root/before.txt")
	t.Logf("files before: %s", strings.TrimSpace(before))
	t1 := time.Now()
	out = g.long(fmt.Sprintf("head -c %d /dev/vdb > /root/goaoe.deb && dpkg -i /root/goaoe.deb", debSize), 15*time.Minute)
	t.Logf("dpkg -i (%v):\n%s", time.Since(t1).Round(time.Second), out)
	out = g.must("aoe version; for n in aoe-stat aoe-discover aoe-interfaces aoe-revalidate aoe-flush aoe-version aoecfg aoeping aoe-sancheck; do test -x /usr/sbin/$n || echo missing $n; done; dpkg-query -W -f '${db:Status-Abbrev}\\n' aoetools goaoe")
	t.Logf("after install:\n%s", out)
	if strings.Contains(out, "missing") || !strings.Contains(out, "ii") {
		t.Errorf("classic names or package state wrong:\n%s", out)
	}
	out = g.must("systemd-analyze verify --man=no /lib/systemd/system/aoe.service 2>&1; echo verify=$?")
	if !strings.Contains(out, "verify=0") || strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(out), "verify=0")) != "" {
		t.Errorf("systemd-analyze verify aoe.service:\n%s", out)
	}
	kernel := strings.TrimSpace(g.must("uname -r"))
	g.vm.Poweroff(3 * time.Minute)
	// From now on boot with the initramfs that dpkg's trigger rebuilt with
	// our hook and script in place of aoetools'.
	cfg.Image.Initrd = extractFile(t, overlay, "/boot/initrd.img-"+kernel, dir)

	// Boot 2: our package, configuration as shipped: nothing probes.
	fc.n.Store(0)
	start = time.Now()
	g = guest{t, lab.BootDisk(ns, cfg)}
	state = g.settle()
	time.Sleep(2 * time.Second)
	frames := fc.n.Load()
	t.Logf("boot 2 (goaoe, not configured): %v, %s, %d AoE frames from the VM", time.Since(start).Round(time.Second), state, frames)
	if frames != 0 {
		t.Errorf("%d AoE frames left the VM at boot with no configuration", frames)
	}
	if state != "running" {
		t.Errorf("is-system-running: %q\n%s", state, g.must("systemctl --failed --no-pager; true"))
	}
	out = g.must("systemctl is-active aoe.service; test -d /sys/module/aoe && echo driver loaded; journalctl -b -u aoe.service --no-pager -o cat")
	t.Logf("aoe.service:\n%s", out)
	if strings.Contains(out, "driver loaded") {
		t.Errorf("the aoe driver was loaded with no configuration")
	}
	g.must(`cat > /etc/aoe/aoe.conf <<'EOF'
AOE_BOOT=yes
AOE_INTERFACES=eth0
AOE_TIMEOUT=120
EOF
mkdir -p /srv/aoe && echo '/dev/etherd/e1.2p1 /srv/aoe ext4 _netdev 0 0' >> /etc/fstab`)
	g.vm.Poweroff(3 * time.Minute)

	// Boot 3: configured; the partition is mounted through fstab.
	start = time.Now()
	g = guest{t, lab.BootDisk(ns, cfg)}
	state = g.settle()
	t.Logf("boot 3 (goaoe, configured): %v, %s", time.Since(start).Round(time.Second), state)
	out = g.must("findmnt -n -o SOURCE /srv/aoe; cat /srv/aoe/hello; stat -c '%n %G %a' /dev/etherd/discover /dev/etherd/err /dev/etherd/e1.2p1; cat /sys/module/aoe/parameters/aoe_iflist; journalctl -b -u aoe.service --no-pager -o cat")
	t.Logf("configured:\n%s", out)
	for _, want := range []string{"/dev/etherd/e1.2p1\n", "hello from AoE\n", "/dev/etherd/discover disk 220\n", "/dev/etherd/err disk 440\n", "/dev/etherd/e1.2p1 disk 660\n", "eth0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if state != "running" {
		t.Errorf("is-system-running: %q\n%s", state, g.must("systemctl --failed --no-pager; true"))
	}

	// Boot 4: root on AoE. The initramfs gets aoe, the driver and the
	// network drivers (AOE_INITRAMFS=yes); the VM's disk, copied, is
	// exported by vblade as e1.1 and booted with aoe=eth0:e1.1.
	g.must("echo AOE_INITRAMFS=yes >> /etc/aoe/aoe.conf")
	t1 = time.Now()
	g.long("update-initramfs -u", 15*time.Minute)
	out = g.must("lsinitramfs /boot/initrd.img-$(uname -r) | grep -E -e '^usr/sbin/aoe$' -e '/aoe.ko$' -e '^scripts/local-top/aoe$' -e '/e1000.ko$' | sort")
	t.Logf("update-initramfs with AOE_INITRAMFS=yes (%v):\n%s", time.Since(t1).Round(time.Second), out)
	g.vm.Poweroff(3 * time.Minute)
	rootRaw := toRaw(t, overlay, dir)
	cfg.Image.Initrd = dumpFile(t, rootRaw, "/boot/initrd.img-"+kernel, dir)
	lab.Port(ns, "v2", "br0", net.HardwareAddr{0x02, 0xae, 0, 1, 1, 2})
	lab.Vblade(ns, "v2", 1, 1, rootRaw)
	cfg.Overlay, cfg.Root, cfg.Append = "", "/dev/etherd/e1.1", "aoe=eth0:e1.1:120"
	start = time.Now()
	g = guest{t, lab.BootDisk(ns, cfg)}
	state = g.settle()
	out = g.must("findmnt -n -o SOURCE /; findmnt -n -o SOURCE /srv/aoe; cat /proc/cmdline")
	t.Logf("boot 4 (root on AoE): %v, %s:\n%s", time.Since(start).Round(time.Second), state, out)
	if !strings.HasPrefix(out, "/dev/etherd/e1.1\n/dev/etherd/e1.2p1\n") {
		t.Errorf("root on AoE: / and /srv/aoe are not e1.1 and e1.2p1")
	}
	if state != "running" {
		t.Errorf("is-system-running: %q\n%s", state, g.must("systemctl --failed --no-pager; true"))
	}

	// Remove, then purge: nothing of the package stays.
	listed := g.long("dpkg-query -L goaoe > /root/goaoe.list; dpkg -r goaoe; journalctl -b -u aoe.service --no-pager -o cat | tail -3", 15*time.Minute)
	t.Logf("dpkg -r:\n%s", listed)
	t1 = time.Now()
	out = g.long("dpkg --purge goaoe", 15*time.Minute)
	t.Logf("dpkg --purge (%v):\n%s", time.Since(t1).Round(time.Second), out)
	out = g.must("find / -xdev \\( -path /proc -o -path /sys -o -path /run -o -path /tmp -o -path /var/log -o -path /var/tmp -o -path /var/cache -o -path /var/lib/dpkg -o -path /var/lib/systemd \\) -prune -o -print | LC_ALL=C sort > /root/after.txt; LC_ALL=C comm -13 /root/before.txt /root/after.txt | grep -v -e '^/root/' -e '^/srv/aoe$' -e '^/etc/fstab' ; ls -d /var/lib/systemd/deb-systemd-helper-enabled/*aoe* 2>/dev/null; true")
	if strings.TrimSpace(out) != "" && !strings.HasPrefix(strings.TrimSpace(out), "(Reading") {
		t.Logf("after purge:\n%s", out)
	}
	left := []string{}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "/") {
			left = append(left, l)
		}
	}
	if len(left) > 0 {
		t.Errorf("left behind after dpkg --purge (not there before the install):\n%s", strings.Join(left, "\n"))
	}
	// The VM is killed at cleanup (its root is on AoE).
	t.Logf("boot test total %v", time.Since(t0).Round(time.Second))
}
