package boot

import (
	"fmt"
	"strings"
)

// Migration is what replacing aoetools carries over into aoe.conf, so that
// what aoetools did at boot goes on: Debian's aoetools loads the aoe driver
// at every boot (its /usr/lib/modules-load.d/aoetools.conf, with no
// interface restriction), and the driver's load discovers targets; fstab's
// _netdev entries on /dev/etherd are then mounted by systemd. Its
// /etc/default/aoetools (INTERFACES='none' as shipped) is not read under
// systemd (its init script, the only reader, is masked).
type Migration struct {
	// Needed is false when aoe.conf already sets AOE_BOOT: the
	// administrator decided; nothing is written.
	Needed bool
	// Interfaces is AOE_INTERFACES: "all", or the INTERFACES list that
	// aoetools' init script applied (not under systemd).
	Interfaces string
	// Wait is AOE_WAIT: the AoE devices of AOEMOUNTS' mount points.
	Wait []string
	// Append is the text to add at the end of aoe.conf.
	Append string
	// Messages say what was done, once (postinst prints them and sends
	// them to the journal).
	Messages []string
}

// MigrateAoetools plans the migration from aoetools: conf is aoe.conf as it
// is, legacy aoetools' /etc/default/aoetools, fstab /etc/fstab; systemd
// tells whether systemd is the init system (then INTERFACES was ignored:
// the driver used every interface). date goes into the comment. Errors: a
// *ParseError for a bad aoe.conf (it is not touched).
func MigrateAoetools(conf, legacy, fstab []byte, systemd bool, date string) (Migration, error) {
	var m Migration
	_, set, err := Parse(DefaultConfigPath, conf)
	if err != nil {
		return m, err
	} else if set {
		m.Messages = append(m.Messages, fmt.Sprintf("aoetools was in use; %s already sets %s, so its settings are kept and nothing is carried over", DefaultConfigPath, KeyBoot))
		return m, nil
	}
	m.Needed = true
	// Keys aoe.conf sets already (without AOE_BOOT, aoetools' file
	// decided): setting them again would make the file invalid.
	already := map[string]bool{}
	as, _ := ParseAssignments(DefaultConfigPath, conf) // Parse accepted it
	for _, a := range as {
		already[a.Key] = true
	}
	vals := map[string]string{}
	if as, err := ParseAssignments(LegacyConfigPath, legacy); err == nil {
		for _, a := range as {
			vals[a.Key] = a.Value
		}
	} else {
		m.Messages = append(m.Messages, fmt.Sprintf("%v: %s not read", err, LegacyConfigPath))
	}
	m.Interfaces = "all"
	how := "aoetools loaded the aoe driver at every boot on every interface"
	ifaces := strings.TrimSpace(vals["INTERFACES"])
	list, all, err := parseInterfaces(ifaces)
	switch {
	case ifaces == "" || ifaces == "none" || err != nil || all:
	case systemd:
		m.Messages = append(m.Messages, fmt.Sprintf("%s sets INTERFACES=%s, which aoetools did not apply under systemd; to restrict AoE to those interfaces, set %s=%s in %s", LegacyConfigPath, quoteForMsg(ifaces), KeyInterfaces, quoteForMsg(strings.Join(list, " ")), DefaultConfigPath))
	default:
		m.Interfaces = strings.Join(list, " ")
		how = "aoetools loaded the aoe driver at every boot, restricted to INTERFACES (" + m.Interfaces + ")"
	}
	for _, mp := range strings.Fields(vals["AOEMOUNTS"]) {
		if dev, found := fstabSourceOf(fstab, mp); found {
			if name, ok := AoEName(SourcePath(dev)); ok {
				m.Wait = appendNew(m.Wait, name)
			}
		}
	}
	for _, k := range []string{"LVMGROUPS", "RAID_ARRAYS"} {
		if strings.TrimSpace(vals[k]) != "" {
			m.Messages = append(m.Messages, fmt.Sprintf("%s: %s not carried over: LVM and md activate volumes on AoE disks through their own udev rules", LegacyConfigPath, k))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n# Carried over from aoetools when the goaoe package replaced it (%s):\n", date)
	fmt.Fprintf(&b, "# %s, and its driver discovered the targets;\n", how)
	b.WriteString("# fstab's _netdev entries on AoE disks were mounted. This goes on. To\n")
	b.WriteString("# restrict the interfaces, edit AOE_INTERFACES; to stop, set AOE_BOOT=no.\n")
	fmt.Fprintf(&b, "%s=yes\n", KeyBoot)
	what := KeyBoot + "=yes"
	var kept []string
	if already[KeyInterfaces] {
		kept = append(kept, fmt.Sprintf("%s already set in %s: kept (aoetools used: %s)", KeyInterfaces, DefaultConfigPath, m.Interfaces))
	} else {
		fmt.Fprintf(&b, "%s=%s\n", KeyInterfaces, shellQuote(m.Interfaces))
		what += ", " + KeyInterfaces + "=" + m.Interfaces
	}
	if len(m.Wait) > 0 {
		if already[KeyWait] {
			kept = append(kept, fmt.Sprintf("%s already set in %s: kept (AOEMOUNTS' devices not added: %s)", KeyWait, DefaultConfigPath, strings.Join(m.Wait, " ")))
		} else {
			fmt.Fprintf(&b, "%s=%s\n", KeyWait, shellQuote(strings.Join(m.Wait, " ")))
			what += ", " + KeyWait + "=" + strings.Join(m.Wait, " ") + " (AOEMOUNTS)"
		}
	}
	m.Messages = append(m.Messages, kept...)
	m.Append = b.String()
	m.Messages = append([]string{fmt.Sprintf("replacing aoetools, which was in use: %s; AoE at boot goes on as before, now through aoe.service (%s written to %s)", how, what, DefaultConfigPath)}, m.Messages...)
	return m, nil
}

// shellQuote quotes a value for aoe.conf when it has blanks.
func shellQuote(v string) string {
	if strings.ContainsAny(v, " \t") {
		return `"` + v + `"`
	}
	return v
}
