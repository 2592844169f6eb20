package aoelab

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// QemuNBD serves img read-only with qemu-nbd, as export, on a Unix socket
// whose path it returns, until tb ends: the NBD server most systems have,
// the reference the NBD benchmarks hold `aoe nbd`'s server to. It needs
// qemu-nbd (apt-get install qemu-utils).
func QemuNBD(tb testing.TB, img, export string) string {
	tb.Helper()
	if _, err := exec.LookPath("qemu-nbd"); err != nil {
		tb.Fatal("qemu-nbd is needed (apt-get install qemu-utils)")
	}
	sock := filepath.Join(tb.TempDir(), "qemu-nbd.sock")
	q := exec.Command("qemu-nbd", "--persistent", "--read-only", "-k", sock, "-x", export, "-f", "raw", img)
	if err := q.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		q.Process.Kill()
		q.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			tb.Fatal("qemu-nbd did not start")
		}
	}
}

// FioReadIOPS returns the read IOPS of the first job of fio's JSON output
// (--output-format=json). Anything before the JSON is skipped: fio's NBD
// engine says "fio: connected to NBD server" on the same stream.
func FioReadIOPS(out []byte) (float64, error) {
	var j struct {
		Jobs []struct {
			Read struct {
				IOPS float64 `json:"iops"`
			} `json:"read"`
		} `json:"jobs"`
	}
	if i := bytes.IndexByte(out, '{'); i >= 0 {
		out = out[i:]
	}
	if err := json.Unmarshal(out, &j); err != nil {
		return 0, err
	}
	if len(j.Jobs) == 0 {
		return 0, errors.New("fio: no job in the output")
	}
	return j.Jobs[0].Read.IOPS, nil
}
