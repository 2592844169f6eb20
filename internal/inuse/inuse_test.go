package inuse

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/goaoe/aoe/sysfs"
	"golang.org/x/sys/unix"
)

func TestParseMountInfo(t *testing.T) {
	in := "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mapper/root rw\n" +
		"short line\n" +
		"\n" +
		"40 22 152:17 / /srv/my\\040data rw,relatime shared:20 - xfs /dev/etherd/e1.2p1 rw\n" +
		"41 22 152:17 / /srv/again rw - xfs /dev/etherd/e1.2p1 rw"
	got := parseMountInfo([]byte(in))
	want := []mountInfo{{"254:1", "/"}, {"152:17", `/srv/my\040data`}, {"152:17", "/srv/again"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountInfo = %q, want %q", got, want)
	}
	if got := parseMountInfo(nil); len(got) != 0 {
		t.Errorf("parseMountInfo(nil) = %q", got)
	}
}

// TestInUseFixture checks every reason against the inuse tree and the
// fixture procfs (its self/mountinfo mounts e1.2p1).
func TestInUseFixture(t *testing.T) {
	h := sysfs.Host{Sys: "../../sysfs/testdata/inuse", Dev: "/nonexistent/etherd", Proc: "../../sysfs/testdata/proc"}
	fs, err := sysfs.NewFS(h.Sys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"e1.1": "",
		"e1.2": "e1.2 is in use (mounted on /srv/data)",
		"e1.3": "e1.3 is in use (held by dm-0)",
		"e1.4": "e1.4 is in use (held open while down: state down,closewait)",
		"e1.5": "e1.5 is in use (held by md0)",
	}
	reasons := map[string]Reason{"e1.2": Mounted, "e1.3": Held, "e1.4": HeldOpen, "e1.5": Held}
	for name, msg := range want {
		d, err := fs.Device(name)
		if err != nil {
			t.Fatal(err)
		}
		err = Check(h, d)
		if msg == "" {
			if err != nil {
				t.Errorf("InUse(%s) = %v", name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInUse) || e.Error() != msg || e.Reason != reasons[name] || e.Device != name {
			t.Errorf("InUse(%s) = %#v, want %q", name, err, msg)
		}
	}
	// Without procfs the mount is not seen.
	d, _ := fs.Device("e1.2")
	if err := Check(sysfs.Host{Sys: h.Sys, Dev: h.Dev}, d); err != nil {
		t.Errorf("InUse without Proc = %v", err)
	}
}

func TestCheckFlush(t *testing.T) {
	h := sysfs.Host{Sys: "../../sysfs/testdata/inuse", Dev: "/nonexistent/etherd", Proc: "../../sysfs/testdata/proc"}
	c := CheckFlush(h, []string{"e1.1", "e1.2", "e1.1"}, false)
	if len(c.Devices) != 2 || len(c.Unknown) != 0 || len(c.Busy) != 1 || c.Busy[0].Device != "e1.2" {
		t.Errorf("CheckFlush = %+v", c)
	}
	c = CheckFlush(h, []string{"e1.2", "e9.9"}, false)
	if !reflect.DeepEqual(c.Unknown, []string{"e9.9"}) || len(c.Busy) != 0 {
		t.Errorf("CheckFlush with an unknown name = %+v", c)
	}
	c = CheckFlush(h, []string{"e1.2"}, true)
	if len(c.Devices) != 1 || len(c.Busy) != 0 {
		t.Errorf("CheckFlush force = %+v", c)
	}
}

// blockNode returns a block device node of this machine and its
// "major:minor", found in /dev (stat needs no privilege), or made with
// mknod as root.
func blockNode(t *testing.T) (string, string) {
	t.Helper()
	var found string
	filepath.WalkDir("/dev", func(p string, e fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if e.Type()&fs.ModeDevice != 0 && e.Type()&fs.ModeCharDevice == 0 {
			found = p
		}
		return nil
	})
	if found == "" {
		if os.Geteuid() != 0 {
			t.Fatal("no block device node in /dev, and not root to make one")
		}
		found = filepath.Join(t.TempDir(), "blk")
		if err := unix.Mknod(found, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(found, &st); err != nil {
		t.Fatal(err)
	}
	return found, fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
}

// TestOpenersFixture finds a process of a fixture procfs whose fd points
// at a block device node; no privilege needed.
func TestOpenersFixture(t *testing.T) {
	node, num := blockNode(t)
	proc := t.TempDir()
	mk := func(pid, comm string, fds map[string]string) {
		if err := os.MkdirAll(filepath.Join(proc, pid, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(proc, pid, "comm"), []byte(comm+"\n"), 0o644)
		for fd, target := range fds {
			if err := os.Symlink(target, filepath.Join(proc, pid, "fd", fd)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("812", "dd", map[string]string{"0": "/dev/null", "3": node})
	mk("813", "sh", map[string]string{"0": "/dev/null", "1": "/nonexistent"})
	mk("self", "x", map[string]string{"3": node}) // not a PID
	got := Openers(proc, []string{"0:0", num})
	if want := []Opener{{PID: 812, Comm: "dd"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Openers = %+v, want %+v", got, want)
	}
	if got := Openers(proc, []string{"0:0"}); len(got) != 0 {
		t.Errorf("Openers(0:0) = %+v", got)
	}
	e := &Error{Device: "e1.2", Reason: OpenByPID, Openers: []Opener{{812, "dd"}, {9, "sh"}}}
	if e.Error() != "e1.2 is in use (open by pid 812 (dd), pid 9 (sh))" {
		t.Errorf("Error() = %q", e.Error())
	}
}

// TestOpenersRealProcess: a process holding a block node open is found
// through the real /proc/PID/fd by its device numbers.
func TestOpenersRealProcess(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root (opening a block device), and CI must run as root")
		}
		t.Skip("needs root: opening a block device")
	}
	node, num := blockNode(t)
	holder := exec.Command("sh", "-c", "exec 3<"+node+"; echo open; exec sleep 30")
	out, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	line := make([]byte, 5)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "open\n" {
		t.Fatalf("holder did not open %s (%s): %q %v", node, num, line, err)
	}
	got := Openers("/proc", []string{"0:0", num})
	found := false
	for _, o := range got {
		// The holder's name is sh or, once it has exec'd, sleep.
		if o.PID == holder.Process.Pid && (o.Comm == "sh" || o.Comm == "sleep") {
			found = true
		}
	}
	if !found {
		t.Errorf("Openers = %+v, want pid %d among them", got, holder.Process.Pid)
	}
	if got := Openers("/proc", []string{"0:0"}); len(got) != 0 {
		t.Errorf("openers of 0:0: %+v", got)
	}
}
