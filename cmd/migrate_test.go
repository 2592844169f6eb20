package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateAoetoolsCommand: postinst's `aoe migrate` appends the
// carried-over settings to aoe.conf once, keeping its mode, and says so.
func TestMigrateAoetoolsCommand(t *testing.T) {
	d := t.TempDir()
	conf, legacy, fstab := filepath.Join(d, "aoe.conf"), filepath.Join(d, "aoetools"), filepath.Join(d, "fstab")
	os.WriteFile(conf, []byte("# shipped\n"), 0o640)
	os.WriteFile(legacy, []byte("INTERFACES='none'\n"), 0o644)
	os.WriteFile(fstab, []byte("/dev/etherd/e1.2p1 /srv ext4 _netdev 0 0\n"), 0o644)
	run := func() string {
		var out, errb bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		if code := Main(context.Background(), []string{"aoe", "migrate", "--config", conf, "--legacy-config", legacy, "--fstab", fstab, "--systemd-dir", d}, env); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		return out.String()
	}
	out := run()
	if !strings.Contains(out, "replacing aoetools, which was in use") {
		t.Errorf("output: %q", out)
	}
	b, _ := os.ReadFile(conf)
	if !strings.HasPrefix(string(b), "# shipped\n") || !strings.Contains(string(b), "\nAOE_BOOT=yes\nAOE_INTERFACES=all\n") {
		t.Errorf("aoe.conf:\n%s", b)
	}
	if fi, _ := os.Stat(conf); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	// Again: AOE_BOOT is set now, nothing changes.
	if out = run(); !strings.Contains(out, "already sets AOE_BOOT") {
		t.Errorf("second run: %q", out)
	}
	if b2, _ := os.ReadFile(conf); !bytes.Equal(b, b2) {
		t.Errorf("changed on the second run:\n%s", b2)
	}
}
