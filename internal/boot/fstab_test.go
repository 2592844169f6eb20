package boot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/internal/logline"
)

func TestSourcePath(t *testing.T) {
	for src, want := range map[string]string{
		"UUID=0f3c-11":           "/dev/disk/by-uuid/0f3c-11",
		"LABEL=my data/x":        `/dev/disk/by-label/my\x20data\x2fx`,
		`LABEL="q"`:              "/dev/disk/by-label/q",
		"PARTUUID=1234abcd-01":   "/dev/disk/by-partuuid/1234abcd-01",
		"PARTLABEL=srv":          "/dev/disk/by-partlabel/srv",
		"/dev/etherd/e1.2p1":     "/dev/etherd/e1.2p1",
		"/dev/disk/by-id/x/../y": "/dev/disk/by-id/y",
		"host:/export":           "",
		"tmpfs":                  "",
		"ID=1":                   "",
		"UUID=":                  "",
	} {
		if got := SourcePath(src); got != want {
			t.Errorf("SourcePath(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestAoEName(t *testing.T) {
	for path, want := range map[string]string{
		"/dev/etherd/e1.2p1":                 "e1.2p1",
		"/dev/etherd/e1.2":                   "e1.2",
		"/dev/disk/by-id/aoe-e1.2":           "e1.2",
		"/dev/disk/by-id/aoe-e1.2-part1":     "e1.2p1",
		"/dev/disk/by-path/aoe-e10.15-part3": "e10.15p3",
		"/dev/disk/by-id/aoe-e1.2-partx":     "",
		"/dev/disk/by-id/ata-foo":            "",
		"/dev/etherd/discover":               "",
		"/dev/vda1":                          "",
	} {
		got, ok := AoEName(path)
		if got != want || ok != (want != "") {
			t.Errorf("AoEName(%q) = %q %v, want %q", path, got, ok, want)
		}
	}
}

// devTree makes dev/disk/by-*/ links as udev does (relative, to
// ../../etherd/NAME or ../../vda1) under a temporary /dev.
func devTree(t *testing.T, dev string, links map[string]string) {
	t.Helper()
	for link, target := range links {
		p := filepath.Join(dev, "disk", link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dev, target), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../../"+target, p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDevResolver(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "dev")
	os.MkdirAll(filepath.Join(dev, "etherd"), 0o755)
	devTree(t, dev, map[string]string{"by-uuid/aaaa": "etherd/e1.2p1", "by-label/root": "vda1", `by-label/my\x20data`: "etherd/e1.3"})
	r := DevResolver(dev)
	for src, want := range map[string]string{
		"UUID=aaaa":              "/dev/etherd/e1.2p1",
		"LABEL=root":             "/dev/vda1",
		"LABEL=my data":          "/dev/etherd/e1.3",
		"/dev/disk/by-uuid/aaaa": "/dev/etherd/e1.2p1",
		"UUID=bbbb":              "",
		"host:/x":                "",
	} {
		got, ok := r(src)
		if got != want || ok != (want != "") {
			t.Errorf("resolve(%q) = %q %v, want %q", src, got, ok, want)
		}
	}
}

func TestFstabWait(t *testing.T) {
	resolve := func(src string) (string, bool) {
		return map[string]string{"UUID=aoe": "/dev/etherd/e1.2p1", "UUID=local": "/dev/vda1", "LABEL=aoe2": "/dev/etherd/e1.4"}[src], src == "UUID=aoe" || src == "UUID=local" || src == "LABEL=aoe2"
	}
	fstab := `# <file system> <mount point> <type> <options> <dump> <pass>
UUID=local / ext4 defaults 0 1
/dev/etherd/e1.2p1 /srv ext4 _netdev 0 2
UUID=aoe /srv2 ext4 _netdev 0 2
UUID=gone /data xfs _netdev,nofail 0 0
LABEL=usb /usb ext4 nofail 0 0
/dev/disk/by-id/aoe-e1.3-part2 /b ext4 _netdev 0 0
LABEL=aoe2 /c ext4 defaults 0 0
UUID=later /d ext4 noauto,_netdev 0 0
server:/export /nfs nfs _netdev 0 0
/dev/sdb1 /sdb ext4 _netdev 0 0
`
	wait, notes := FstabWait("/etc/fstab", []byte(fstab), resolve)
	if want := []string{"e1.2p1", "UUID=gone", "e1.3p2", "e1.4"}; !reflect.DeepEqual(wait, want) {
		t.Errorf("wait %q, want %q", wait, want)
	}
	if want := []string{`/etc/fstab:8: "LABEL=aoe2" has no _netdev option: it may be mounted before the network and the AoE disk are up; add _netdev`}; !reflect.DeepEqual(notes, want) {
		t.Errorf("notes %q, want %q", notes, want)
	}
	// Without a resolver only the names count.
	if wait, _ = FstabWait("/etc/fstab", []byte(fstab), nil); !reflect.DeepEqual(wait, []string{"e1.2p1", "e1.3p2"}) {
		t.Errorf("no resolver: wait %q", wait)
	}
}

// TestLoadWarnsUnwaited: aoe up --check says which fstab entries on AoE
// disks boot will not wait for (boot off, as after aoetools was replaced
// without a migration; or AOE_FSTAB=no).
func TestLoadWarnsUnwaited(t *testing.T) {
	files := map[string]string{
		"/etc/default/aoetools": "INTERFACES='none'\n",
		"/etc/fstab":            "/dev/etherd/e1.2p1 /srv ext4 _netdev 0 2\nUUID=aoe /srv2 ext4 _netdev 0 2\n",
	}
	f := Files{Config: DefaultConfigPath, Legacy: LegacyConfigPath, Fstab: DefaultFstabPath,
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, os.ErrNotExist
		},
		Resolve: func(src string) (string, bool) { return "/dev/etherd/e1.3p1", src == "UUID=aoe" },
	}
	cfg, err := Load(f)
	if err != nil || cfg.Boot {
		t.Fatalf("%+v %v", cfg, err)
	}
	want := []string{
		`/etc/fstab:1: "/dev/etherd/e1.2p1" is on an AoE disk, but AoE boot discovery is off: it will not be mounted at boot (set AOE_BOOT=yes and AOE_INTERFACES in /etc/aoe/aoe.conf)`,
		`/etc/fstab:2: "UUID=aoe" (e1.3p1) is on an AoE disk, but AoE boot discovery is off: it will not be mounted at boot (set AOE_BOOT=yes and AOE_INTERFACES in /etc/aoe/aoe.conf)`,
	}
	if !reflect.DeepEqual(cfg.Notes, want) {
		t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(cfg.Notes, "\n"), strings.Join(want, "\n"))
	}
	files["/etc/aoe/aoe.conf"] = "AOE_BOOT=yes\nAOE_INTERFACES=eth0\nAOE_FSTAB=no\nAOE_WAIT=e1.3p1\n"
	if cfg, err = Load(f); err != nil || !cfg.Boot {
		t.Fatalf("%+v %v", cfg, err)
	}
	if want := []string{`/etc/fstab:1: "/dev/etherd/e1.2p1" is on an AoE disk that boot does not wait for (AOE_FSTAB=no and not in AOE_WAIT)`}; !reflect.DeepEqual(cfg.Notes, want) {
		t.Errorf("AOE_FSTAB=no notes: %q", cfg.Notes)
	}
	files["/etc/aoe/aoe.conf"] = "AOE_BOOT=yes\nAOE_INTERFACES=eth0\n"
	if cfg, err = Load(f); err != nil || len(cfg.Notes) != 0 || !reflect.DeepEqual(cfg.Wait, []string{"e1.2p1", "e1.3p1"}) {
		t.Errorf("configured: %+v %v", cfg, err)
	}
}

// upWithLinks is a fake system whose udev makes a by-uuid link for
// e1.2p1 when the target appears.
func upWithLinks(t *testing.T) (*fakeSystem, Env) {
	f := newFakeSystem(t)
	f.targets["e1.2"] = []int{1}
	f.answersAt = 2
	env := f.env()
	dev := filepath.Dir(f.dev)
	env.Resolve = DevResolver(dev)
	ctl := env.Control.Writer
	env.Control.Writer = func(p string, b []byte) error {
		err := ctl(p, b)
		if _, e := os.Stat(filepath.Join(f.dev, "e1.2p1")); e == nil {
			if _, e := os.Lstat(filepath.Join(dev, "disk/by-uuid/aoe")); e != nil {
				os.MkdirAll(filepath.Join(dev, "disk/by-uuid"), 0o755)
				os.Symlink("../../etherd/e1.2p1", filepath.Join(dev, "disk/by-uuid/aoe"))
			}
		}
		return err
	}
	return f, env
}

func TestUpWaitsForFstabSource(t *testing.T) {
	f, env := upWithLinks(t)
	res, err := Up(context.Background(), env, upConfig("UUID=aoe"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Ready, []string{"UUID=aoe on e1.2p1"}) || len(res.NotFound) != 0 || f.discovers != 2 {
		t.Errorf("%+v after %d discoveries", res, f.discovers)
	}
}

// TestUpFstabSourceNotFound: a _netdev UUID= entry that never appears is
// not known to be on AoE: reported, not a failure; an AoE device missing is.
func TestUpFstabSourceNotFound(t *testing.T) {
	_, env := upWithLinks(t)
	var logged []string
	env.Log = logline.New(func(s string) { logged = append(logged, s) })
	cfg := upConfig("e1.2p1", "UUID=gone")
	cfg.Timeout = 10 * time.Second
	res, err := Up(context.Background(), env, cfg)
	if err != nil || !reflect.DeepEqual(res.Ready, []string{"e1.2p1"}) || !reflect.DeepEqual(res.NotFound, []string{"UUID=gone"}) || len(logged) == 0 {
		t.Errorf("%+v %v %q", res, err, logged)
	}
	_, env = upWithLinks(t)
	cfg = upConfig("e3.4", "UUID=gone")
	cfg.Timeout = 10 * time.Second
	_, err = Up(context.Background(), env, cfg)
	var te *aoectl.TimeoutError
	if !errors.As(err, &te) || !reflect.DeepEqual(missingStrings(te), []string{"e3.4 (not found)", "UUID=gone (not found)"}) {
		t.Errorf("got %v", err)
	}
}
