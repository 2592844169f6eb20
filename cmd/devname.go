package cmd

import (
	"strings"

	"github.com/goaoe/aoe/initiator/aoeaddr"
)

// addressArg parses a DEV argument (eSHELF.SLOT, a whole disk) for every
// command that takes one, driver side (discover --wait, revalidate,
// flush) and wire side (ping, cfg, mask, reserve, read, write, bench,
// nbd). A bad name is a usage error (exit 2) that suggests the name meant
// when there is one (see suggestDevice): "e01.2", "/dev/etherd/e1.2",
// "1.2", "E1.2" and "e1.2p1" all get "did you mean e1.2?".
func addressArg(s string) (aoeaddr.Address, error) {
	a, err := aoeaddr.Parse(s)
	if err == nil {
		return a, nil
	}
	// %q escapes control bytes.
	if m := suggestDevice(s); m != "" {
		return a, usageErrorf("%q is not an AoE device name; did you mean %s?", s, m)
	}
	return a, usageErrorf("%q is not an AoE device name (want eSHELF.SLOT: shelf 0-65534, slot 0-254, in decimal without leading zeros)", s)
}

// checkDeviceArgs checks device names (each may be a comma-separated
// list, as --wait takes), with addressArg's errors, prefixed with
// prefix when it is not empty ("--wait: ").
func checkDeviceArgs(prefix string, names []string) error {
	for _, n := range names {
		if _, err := addressArg(n); err != nil {
			if prefix != "" {
				return usageErrorf("%s%v", prefix, err)
			}
			return err
		}
	}
	return nil
}

// suggestDevice returns the canonical device name that a near-miss name
// means, or "" when it means none (or is canonical already): a device
// node path (/dev/etherd/e1.2, etherd/e1.2), a capital E, a missing e
// ("1.2"), leading zeros ("e01.002"), blanks around it, and a partition
// where a whole disk is wanted ("e1.2p1", "/dev/etherd/e1.2p1"). The
// suggestion is always a valid name, never a guess across ranges: "e1.255"
// gets none.
func suggestDevice(s string) string {
	t := strings.TrimSpace(s)
	if i := strings.LastIndex(t, "/"); i >= 0 {
		dir := t[:i+1]
		if !strings.HasSuffix(dir, "etherd/") {
			return ""
		}
		t = t[i+1:]
	}
	switch {
	case strings.HasPrefix(t, "E"):
		t = "e" + t[1:]
	case t != "" && t[0] >= '0' && t[0] <= '9':
		t = "e" + t
	}
	rest, ok := strings.CutPrefix(t, "e")
	if !ok {
		return ""
	}
	sh, sl, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	if disk, part, ok := strings.Cut(sl, "p"); ok {
		// A partition, eX.YpN: its disk, if N is a number.
		if _, err := aoeaddr.ParseNumber(part, 1<<20-1); err != nil {
			return ""
		}
		sl = disk
	}
	shelf, err1 := aoeaddr.ParseNumber(sh, aoeaddr.BroadcastShelf-1)
	slot, err2 := aoeaddr.ParseNumber(sl, aoeaddr.BroadcastSlot-1)
	if err1 != nil || err2 != nil {
		return ""
	}
	m := aoeaddr.Address{Shelf: uint16(shelf), Slot: uint8(slot)}.String()
	if m == s {
		return ""
	}
	return m
}
