//go:build e2e

package cmd

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator/aoetest"
)

func TestE2ESmoke(t *testing.T) {
	lab := aoetest.NewLab(t)
	cache := os.Getenv("AOE_E2E_CACHE")
	if cache == "" {
		cache = "/var/tmp/aoe-e2e-cache"
	}
	k := aoetest.FetchKernel(t, cache)
	ns := lab.Namespace("san")
	lab.Bridge(ns, "br0")
	lab.Bridge(ns, "br1")
	lab.Tap(ns, "tap0", "br0")
	lab.Tap(ns, "tap1", "br1")
	bin, _ := filepath.Abs("../bin/aoe")
	start := time.Now()
	vm := lab.BootVM(ns, aoetest.VMConfig{Kernel: k, Modules: []string{"drivers/block/aoe/aoe.ko"},
		Files: map[string]string{"/usr/local/sbin/aoe": bin}, Taps: []string{"tap0", "tap1"}})
	t.Logf("boot took %v", time.Since(start))
	r := vm.Run("uname -r; ls /sys/class/net; aoe stat; echo rc=$?", time.Minute)
	t.Logf("%+v", r)
}
