package inuse

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseMountInfo: any mount table parses without panic, and every
// entry's device number comes from its line's third field.
func FuzzParseMountInfo(f *testing.F) {
	if b, err := os.ReadFile("../../sysfs/testdata/proc/self/mountinfo"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw\n"))
	f.Add([]byte("1 2 152:16 / /srv\\040data rw - ext4 /dev/etherd/e1.2p1 rw"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mi := range parseMountInfo(b) {
			if !strings.Contains(string(b), mi.Dev) {
				t.Fatalf("device %q is not in the input", mi.Dev)
			}
		}
	})
}
