package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mkEnv runs aoe-mkdevs/aoe-mkshelf with mknod recording into a map and a
// sysfs whose aoe_dyndevs is dyndevs ("" for no driver).
func mkEnv(t *testing.T, dyndevs string, udev bool, vars map[string]string) (*Env, map[string]string, *bytes.Buffer) {
	t.Helper()
	sys := t.TempDir()
	if dyndevs != "" {
		p := filepath.Join(sys, "module/aoe/parameters")
		os.MkdirAll(p, 0o755)
		os.WriteFile(filepath.Join(p, "aoe_dyndevs"), []byte(dyndevs+"\n"), 0o644)
	}
	nodes := map[string]string{}
	oldMknod, oldUdev := mknod, udevDetected
	t.Cleanup(func() { mknod, udevDetected = oldMknod, oldUdev })
	mknod = func(path string, mode, major, minor uint32) error {
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			return unix.ENOENT
		}
		kind := "b"
		if mode&unix.S_IFMT == unix.S_IFCHR {
			kind = "c"
		}
		nodes[filepath.Base(path)] = fmt.Sprintf("%s %d,%d %o", kind, major, minor, mode&0o7777)
		return nil
	}
	udevDetected = func() bool { return udev }
	var stderr bytes.Buffer
	env := &Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
	env.Host.Sys = sys
	return env, nodes, &stderr
}

func TestMkdevs(t *testing.T) {
	env, nodes, stderr := mkEnv(t, "0", false, map[string]string{"n_shelves": "2"})
	dir := filepath.Join(t.TempDir(), "etherd")
	if code := Main(context.Background(), []string{"aoe-mkdevs", dir}, env); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(nodes) != 5+2*16*16 {
		t.Errorf("%d nodes, want 517 (as aoetools with n_shelves=2)", len(nodes))
	}
	for name, want := range map[string]string{
		"err": "c 152,2 400", "discover": "c 152,3 200", "flush": "c 152,6 200",
		"e0.0": "b 152,0 660", "e0.0p1": "b 152,1 660", "e1.2": "b 152,288 660", "e1.2p1": "b 152,289 660", "e1.3": "b 152,304 660",
	} {
		if nodes[name] != want {
			t.Errorf("%s: %q, want %q", name, nodes[name], want)
		}
	}
}

func TestMkshelf(t *testing.T) {
	env, nodes, stderr := mkEnv(t, "", false, map[string]string{"n_partitions": "1"})
	dir := t.TempDir()
	if code := Main(context.Background(), []string{"aoe-mkshelf", dir, "7"}, env); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var names []string
	for n := range nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) != 16 || nodes["e7.0"] != "b 152,112 660" || nodes["e7.10"] != "b 152,122 660" {
		t.Errorf("%v %v", names, nodes)
	}
	// aoetools does not make the directory: mknod fails.
	env, _, stderr = mkEnv(t, "", false, map[string]string{"n_partitions": "1"})
	if code := Main(context.Background(), []string{"aoe-mkshelf", filepath.Join(dir, "none"), "7"}, env); code != 1 || stderr.String() != "mknod: "+filepath.Join(dir, "none", "e7.0")+": No such file or directory\n" {
		t.Errorf("exit %d: %q", code, stderr)
	}
}

// TestMkdevsRefusals: aoetools' usage lines and its three-line refusals
// (golden captures: vm/dyndevs0/08, 09 and vm/basic/53).
func TestMkdevsRefusals(t *testing.T) {
	for _, c := range []struct {
		argv    []string
		dyndevs string
		udev    bool
		want    string
	}{
		{[]string{"aoe-mkdevs"}, "0", false, "Usage: aoe-mkdevs {dir}\n       n_partitions=16 aoe-mkdevs {dir}\n"},
		{[]string{"aoe-mkshelf", "/tmp/x"}, "0", false, "Usage: aoe-mkshelf {dir} {shelfaddress}\n       n_partitions=16 aoe-mkshelf {dir} {shelfaddress}\n"},
		{[]string{"aoe-mkdevs", "/tmp/etherd-static"}, "1", false, "aoe-mkdevs Error: aoe module is using dynamic devices.\naoe-mkdevs: Please see the aoe-mkdevs manpage.\naoe-mkdevs: Exiting.\n"},
		{[]string{"aoe-mkshelf", "/tmp/x", "1"}, "0", true, "aoe-mkshelf Error: udev detected.  You shouldn't need to use aoe-mkshelf.\naoe-mkshelf: Please see the aoe-mkshelf manpage.\naoe-mkshelf: Exiting.\n"},
	} {
		env, nodes, stderr := mkEnv(t, c.dyndevs, c.udev, nil)
		code := Main(context.Background(), c.argv, env)
		if code != 1 || stderr.String() != c.want || len(nodes) != 0 {
			t.Errorf("%s: exit %d, %d nodes, stderr:\n%s\nwant:\n%s", strings.Join(c.argv, " "), code, len(nodes), stderr, c.want)
		}
	}
}
