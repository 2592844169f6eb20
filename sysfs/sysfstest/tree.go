// Package sysfstest writes sysfs trees of the aoe driver for tests and
// benchmarks: n devices, laid out as the kernel lays them out (a symlink in
// block/ to a directory in devices/virtual/block).
package sysfstest

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteTree writes under root a loaded aoe driver (version 85, aoe_iflist
// "eth0 eth1") with n up devices e0.0, e0.1, ... (16 slots a shelf), each
// with every attribute the tools read.
func WriteTree(root string, n int) error {
	for _, d := range []string{"block", "module/aoe/parameters"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{"module/aoe/version": "85\n", "module/aoe/parameters/aoe_iflist": "eth0 eth1\n"}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("e%d.%d", i/16, i%16)
		dir := filepath.Join("devices/virtual/block", "etherd!"+name)
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			return err
		}
		for k, v := range map[string]string{
			"state": "up", "mac": fmt.Sprintf("02ae%08x", i), "netif": "eth0,eth1",
			"firmware-version": "0x4019", "payload": "8704", "size": fmt.Sprint(2097152 * (i%7 + 1)),
			"dev": fmt.Sprintf("152:%d", i*16),
		} {
			files[filepath.Join(dir, k)] = v + "\n"
		}
		if err := os.Symlink("../"+dir, filepath.Join(root, "block", "etherd!"+name)); err != nil {
			return err
		}
	}
	for p, v := range files {
		if err := os.WriteFile(filepath.Join(root, p), []byte(v), 0o644); err != nil {
			return err
		}
	}
	return nil
}
