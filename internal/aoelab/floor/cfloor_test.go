package floor_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaoe/aoe/internal/aoelab"
)

// TestCFloor: the C floor, the Go floor's yardstick, reads real vblade's
// image exactly over 1500- and 9000-byte links, from an offset and round
// a small buffer, waiting in recvmmsg or in poll, and fails (exit 3) when
// nothing answers.
func TestCFloor(t *testing.T) {
	lab := aoelab.NewLab(t)
	bin := aoelab.BuildCFloor(t, t.TempDir())
	tgt, ini, want := vbladeLab(t, lab)
	run := func(args ...string) (string, error) {
		out, err := exec.Command("ip", append([]string{"netns", "exec", ini, bin}, args...)...).CombinedOutput()
		return string(out), err
	}
	dir := t.TempDir()
	for i, tc := range []struct {
		tgt, ini       string
		offset, length int64
		extra          []string
		want           []byte
	}{
		{tgt: "t0", ini: "i0", length: labSize - 1000},
		{tgt: "t1", ini: "i1", length: labSize - 1000, extra: []string{"-P"}},
		{tgt: "t0", ini: "i0", offset: 3 << 20, length: 1<<20 + 512, extra: []string{"-window", "4", "-P"}},
		{tgt: "t1", ini: "i1", offset: 512 * 7, length: 5 << 20, extra: []string{"-window", "64"}},
		// Round a 64 KiB buffer (64 frames of 1 KiB at MTU 1500): it
		// ends with the last 64 frames.
		{tgt: "t0", ini: "i0", offset: 1 << 20, length: 1 << 20, extra: []string{"-buffer", "64K"},
			want: want[2<<20-64<<10 : 2<<20]},
	} {
		out := filepath.Join(dir, fmt.Sprint(i))
		args := append([]string{"-i", tc.ini, "-target", lab.MAC(tgt, tc.tgt).String(), "-e", "e1.2",
			"-offset", fmt.Sprint(tc.offset), "-length", fmt.Sprint(tc.length), "-o", out}, tc.extra...)
		msg, err := run(args...)
		if err != nil {
			t.Fatalf("cfloor %s: %v: %s", strings.Join(args, " "), err, msg)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		w := tc.want
		if w == nil {
			w = want[tc.offset : tc.offset+tc.length]
		}
		if !bytes.Equal(got, w) {
			t.Errorf("cfloor %s: %d bytes, not the image's", strings.Join(args, " "), len(got))
		}
		t.Logf("%s", strings.TrimSpace(msg))
	}
	// No such target (e7.7): nothing answers.
	msg, err := run("-i", "i0", "-target", lab.MAC(tgt, "t0").String(), "-e", "e7.7", "-length", "4096")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(msg, "no reply") {
		t.Errorf("cfloor, no target: %v: %s (want exit 3, no reply)", err, msg)
	}
}
