package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenCase is one command line whose whole transcript (stdout, stderr,
// exit status, control-node writes) is kept in testdata/golden.
type goldenCase struct {
	name string
	// argv[0] is the program name; "SYS" in an argument is replaced by the
	// fixture tree's path, "DEV" by the device directory.
	argv []string
	tree string // fixture tree, "" for none
	// writable copies the tree into a temporary directory first (commands
	// that write module parameters).
	writable  bool
	realNodes bool
	env       map[string]string
	procRoot  string
	noModinfo bool
}

const testDevDir = "/nonexistent/etherd"

var goldenCases = []goldenCase{
	// aoe-stat, as aoetools 36
	{name: "aoe-stat/basic", argv: []string{"aoe-stat"}, tree: "basic"},
	{name: "aoe-stat/basic-e1.2", argv: []string{"aoe-stat", "e1.2"}, tree: "basic"},
	{name: "aoe-stat/basic-1.2", argv: []string{"aoe-stat", "1.2"}, tree: "basic"},
	{name: "aoe-stat/basic-e7", argv: []string{"aoe-stat", "e7"}, tree: "basic"},
	{name: "aoe-stat/basic-eth1", argv: []string{"aoe-stat", "eth1"}, tree: "basic"},
	{name: "aoe-stat/basic-nomatch", argv: []string{"aoe-stat", "e9.9"}, tree: "basic"},
	{name: "aoe-stat/basic-spaces", argv: []string{"aoe-stat", "eth0 1024  up"}, tree: "basic"},
	{name: "aoe-stat/basic-bre", argv: []string{"aoe-stat", `^ *e\(1\|7\)\.[0-9]\+ `}, tree: "basic"},
	{name: "aoe-stat/bad-regex", argv: []string{"aoe-stat", `e1\(`}, tree: "basic"},
	{name: "aoe-stat/two-args", argv: []string{"aoe-stat", "e1", "e2"}, tree: "basic"},
	{name: "aoe-stat/sysfs-env", argv: []string{"aoe-stat"}, env: map[string]string{"sysfs_dir": "SYS"}, tree: "mixed"},
	{name: "aoe-stat/mixed", argv: []string{"aoe-stat"}, tree: "mixed"},
	{name: "aoe-stat/legacy", argv: []string{"aoe-stat"}, tree: "legacy"},
	{name: "aoe-stat/bugs", argv: []string{"aoe-stat"}, tree: "bugs"},
	{name: "aoe-stat/nodevs", argv: []string{"aoe-stat"}, tree: "nodevs"},
	{name: "aoe-stat/nomodule", argv: []string{"aoe-stat"}, tree: "nomodule"},
	{name: "aoe-stat/nosysfs", argv: []string{"aoe-stat"}, env: map[string]string{"sysfs_dir": "/nonexistent"}},
	{name: "aoe-stat/help", argv: []string{"aoe-stat", "--help"}},

	// aoe stat
	{name: "stat/basic", argv: []string{"aoe", "stat"}, tree: "basic"},
	{name: "stat/basic-wide", argv: []string{"aoe", "stat", "--wide"}, tree: "basic"},
	{name: "stat/basic-json", argv: []string{"aoe", "stat", "--json"}, tree: "basic"},
	{name: "stat/basic-regex", argv: []string{"aoe", "stat", `^e1\.`}, tree: "basic"},
	{name: "stat/basic-classic", argv: []string{"aoe", "stat", "--classic", "eth1"}, tree: "basic"},
	{name: "stat/mixed-wide", argv: []string{"aoe", "stat", "-w"}, tree: "mixed"},
	{name: "stat/mixed-json", argv: []string{"aoe", "stat", "--json"}, tree: "mixed"},
	{name: "stat/bugs-json", argv: []string{"aoe", "stat", "--json"}, tree: "bugs"},
	{name: "stat/legacy", argv: []string{"aoe", "stat"}, tree: "legacy"},
	{name: "stat/nomatch", argv: []string{"aoe", "stat", "e9"}, tree: "basic"},
	{name: "stat/nodevs", argv: []string{"aoe", "stat"}, tree: "nodevs"},
	{name: "stat/nodevs-json", argv: []string{"aoe", "stat", "--json"}, tree: "nodevs"},
	{name: "stat/nomodule", argv: []string{"aoe", "stat"}, tree: "nomodule"},
	{name: "stat/nosysfs", argv: []string{"aoe", "stat", "--sysfs", "/nonexistent"}},
	{name: "stat/bad-regex", argv: []string{"aoe", "stat", "e1("}, tree: "basic"},
	{name: "stat/json-classic", argv: []string{"aoe", "stat", "--json", "--classic"}, tree: "basic"},
	{name: "stat/bad-flag", argv: []string{"aoe", "stat", "--bogus"}, tree: "basic"},

	// discover
	{name: "aoe-discover/ok", argv: []string{"aoe-discover"}, tree: "basic"},
	{name: "aoe-discover/args-ignored", argv: []string{"aoe-discover", "whatever"}, tree: "basic"},
	{name: "aoe-discover/no-node", argv: []string{"aoe-discover"}, tree: "nomodule", realNodes: true},
	{name: "discover/ok", argv: []string{"aoe", "discover"}, tree: "basic"},
	{name: "discover/no-driver", argv: []string{"aoe", "discover"}, tree: "nomodule", realNodes: true},
	{name: "discover/no-node", argv: []string{"aoe", "discover"}, tree: "basic", realNodes: true},
	{name: "discover/wait-up", argv: []string{"aoe", "discover", "--wait", "e1.2,e7.0", "--wait", "e2.1"}, tree: "basic"},
	{name: "discover/wait-timeout", argv: []string{"aoe", "discover", "--wait", "e1.2,e9.9,e10.0", "--timeout", "300ms"}, tree: "mixed"},
	{name: "discover/wait-bad-name", argv: []string{"aoe", "discover", "--wait", "sda"}, tree: "basic"},
	{name: "discover/args", argv: []string{"aoe", "discover", "e1.2"}, tree: "basic"},

	// interfaces
	{name: "aoe-interfaces/read-empty", argv: []string{"aoe-interfaces"}, tree: "basic"},
	{name: "aoe-interfaces/read", argv: []string{"aoe-interfaces"}, tree: "mixed"},
	{name: "aoe-interfaces/read-nomodule", argv: []string{"aoe-interfaces"}, tree: "nomodule"},
	{name: "aoe-interfaces/set-one", argv: []string{"aoe-interfaces", "eth0"}, tree: "basic", writable: true},
	{name: "aoe-interfaces/set-two", argv: []string{"aoe-interfaces", "eth0", "eth1"}, tree: "basic", writable: true},
	{name: "aoe-interfaces/set-commas", argv: []string{"aoe-interfaces", "eth0,eth1"}, tree: "basic", writable: true},
	{name: "aoe-interfaces/set-quoted", argv: []string{"aoe-interfaces", "eth0 eth1"}, tree: "basic", writable: true},
	{name: "aoe-interfaces/clear", argv: []string{"aoe-interfaces", "-c"}, tree: "mixed", writable: true},
	{name: "aoe-interfaces/clear-args", argv: []string{"aoe-interfaces", "-c", "eth0"}, tree: "basic"},
	{name: "aoe-interfaces/bad", argv: []string{"aoe-interfaces", "eth0", "bogus0", "bogus1"}, tree: "basic"},
	{name: "aoe-interfaces/chardev", argv: []string{"aoe-interfaces", "eth0"}, tree: "nomodule"},
	{name: "aoe-interfaces/no-node", argv: []string{"aoe-interfaces", "eth0"}, tree: "nomodule", realNodes: true},
	{name: "interfaces/read-empty", argv: []string{"aoe", "interfaces"}, tree: "basic"},
	{name: "interfaces/read", argv: []string{"aoe", "interfaces"}, tree: "mixed"},
	{name: "interfaces/read-json", argv: []string{"aoe", "interfaces", "--json"}, tree: "mixed"},
	{name: "interfaces/read-json-empty", argv: []string{"aoe", "interfaces", "--json"}, tree: "basic"},
	{name: "interfaces/read-nomodule", argv: []string{"aoe", "interfaces"}, tree: "nomodule"},
	{name: "interfaces/set-commas", argv: []string{"aoe", "interfaces", "eth1,eth0"}, tree: "basic", writable: true},
	{name: "interfaces/bad", argv: []string{"aoe", "interfaces", "bogus0,eth0"}, tree: "basic"},
	{name: "interfaces/clear-args", argv: []string{"aoe", "interfaces", "-c", "eth0"}, tree: "basic"},
	{name: "interfaces/only-commas", argv: []string{"aoe", "interfaces", ","}, tree: "basic"},
	{name: "interfaces/no-node", argv: []string{"aoe", "interfaces", "eth0"}, tree: "nomodule", realNodes: true},

	// revalidate
	{name: "aoe-revalidate/noargs", argv: []string{"aoe-revalidate"}, tree: "basic"},
	{name: "aoe-revalidate/one", argv: []string{"aoe-revalidate", "e1.2"}, tree: "basic"},
	{name: "aoe-revalidate/two", argv: []string{"aoe-revalidate", "e1.2", "e7.0"}, tree: "basic"},
	{name: "aoe-revalidate/unknown", argv: []string{"aoe-revalidate", "e9.9"}, tree: "basic"},
	{name: "aoe-revalidate/bad", argv: []string{"aoe-revalidate", "foo"}, tree: "basic"},
	{name: "aoe-revalidate/no-node", argv: []string{"aoe-revalidate", "e1.2"}, tree: "basic", realNodes: true},
	{name: "revalidate/one", argv: []string{"aoe", "revalidate", "e1.3"}, tree: "basic"},
	{name: "revalidate/noargs", argv: []string{"aoe", "revalidate"}, tree: "basic"},
	{name: "revalidate/bad", argv: []string{"aoe", "revalidate", "e1.255"}, tree: "basic"},
	{name: "revalidate/unknown", argv: []string{"aoe", "revalidate", "e1.2", "e9.9"}, tree: "basic"},

	// flush
	{name: "aoe-flush/noargs", argv: []string{"aoe-flush"}, tree: "basic"},
	{name: "aoe-flush/all", argv: []string{"aoe-flush", "-a"}, tree: "basic"},
	{name: "aoe-flush/all-and-names", argv: []string{"aoe-flush", "-a", "e1.2"}, tree: "basic"},
	{name: "aoe-flush/exact", argv: []string{"aoe-flush", "e1.1"}, tree: "siblings"},
	{name: "aoe-flush/two", argv: []string{"aoe-flush", "e1.10", "e11.1"}, tree: "siblings"},
	{name: "aoe-flush/unknown", argv: []string{"aoe-flush", "e9.9", "e1.1", "foo"}, tree: "siblings"},
	{name: "aoe-flush/no-node", argv: []string{"aoe-flush"}, tree: "nomodule", realNodes: true},
	{name: "aoe-flush/in-use", argv: []string{"aoe-flush", "e1.1", "e1.2", "e1.3", "e1.4", "e1.5"}, tree: "inuse", procRoot: "../sysfs/testdata/proc"},
	{name: "aoe-flush/free", argv: []string{"aoe-flush", "e1.1"}, tree: "inuse", procRoot: "../sysfs/testdata/proc"},
	{name: "flush/noargs", argv: []string{"aoe", "flush"}, tree: "basic"},
	{name: "flush/all", argv: []string{"aoe", "flush", "--all"}, tree: "basic"},
	{name: "flush/exact", argv: []string{"aoe", "flush", "e1.1"}, tree: "siblings"},
	{name: "flush/in-use", argv: []string{"aoe", "flush", "e1.2", "e1.3", "e1.4", "e1.5"}, tree: "inuse", procRoot: "../sysfs/testdata/proc"},
	{name: "flush/in-use-force", argv: []string{"aoe", "flush", "--force", "e1.2", "e1.4"}, tree: "inuse", procRoot: "../sysfs/testdata/proc"},
	{name: "flush/unknown", argv: []string{"aoe", "flush", "e1.1", "e9.9"}, tree: "siblings"},
	{name: "flush/bad-name", argv: []string{"aoe", "flush", "e1.1x"}, tree: "siblings"},
	{name: "flush/all-and-names", argv: []string{"aoe", "flush", "-a", "e1.1"}, tree: "siblings"},
	{name: "flush/force-alone", argv: []string{"aoe", "flush", "--force"}, tree: "siblings"},
	{name: "flush/no-driver", argv: []string{"aoe", "flush"}, tree: "nomodule", realNodes: true},

	// hardening of local input
	{name: "stat/empty-sysfs", argv: []string{"aoe", "stat", "--sysfs", ""}},
	{name: "aoe-stat/empty-sysfs", argv: []string{"aoe-stat", "--sysfs", ""}},
	{name: "flush/duplicate", argv: []string{"aoe", "flush", "e1.1", "e1.1"}, tree: "siblings"},
	{name: "aoe-flush/duplicate", argv: []string{"aoe-flush", "e1.1", "e1.1"}, tree: "siblings"},
	{name: "flush/leading-zero", argv: []string{"aoe", "flush", "e01.1"}, tree: "siblings"},
	{name: "aoe-flush/leading-zero", argv: []string{"aoe-flush", "e01.1"}, tree: "siblings"},
	{name: "flush/empty-devdir", argv: []string{"aoe", "flush", "--devdir", ""}, tree: "siblings"},
	{name: "discover/timeout-without-wait", argv: []string{"aoe", "discover", "--timeout", "-1s"}, tree: "basic"},
	{name: "discover/wait-empty", argv: []string{"aoe", "discover", "--wait", ""}, tree: "basic"},
	{name: "discover/wait-leading-zero", argv: []string{"aoe", "discover", "--wait", "e01.2"}, tree: "basic"},
	{name: "discover/wait-nosysfs", argv: []string{"aoe", "discover", "--wait", "e1.2", "--sysfs", "/nonexistent"}, tree: "basic"},
	{name: "discover/wait-closewait", argv: []string{"aoe", "discover", "--wait", "e1.4", "--timeout", "300ms"}, tree: "inuse"},
	{name: "aoe-discover/wait-ignored", argv: []string{"aoe-discover", "--wait", "e1.2"}, tree: "basic"},
	{name: "aoe-discover/unknown-flag-ignored", argv: []string{"aoe-discover", "-x"}, tree: "basic"},
	{name: "aoe-interfaces/empty-arg", argv: []string{"aoe-interfaces", ""}, tree: "mixed"},
	{name: "interfaces/empty-arg", argv: []string{"aoe", "interfaces", ""}, tree: "mixed"},
	{name: "interfaces/too-long", argv: []string{"aoe", "interfaces", strings.Repeat("eth0,", 205)}, tree: "basic"},
	{name: "aoe-interfaces/too-long", argv: []string{"aoe-interfaces", strings.Repeat("eth0 ", 205)}, tree: "basic"},
	{name: "interfaces/longest", argv: []string{"aoe", "interfaces", strings.Repeat("eth0,", 203) + "eth1"}, tree: "basic", writable: true},
	{name: "flush/nosysfs", argv: []string{"aoe", "flush", "e1.1", "--sysfs", "/nonexistent"}, tree: "siblings"},
	{name: "interfaces/nosysfs", argv: []string{"aoe", "interfaces", "--sysfs", "/nonexistent"}, tree: "basic"},
	{name: "interfaces/set-nosysfs", argv: []string{"aoe", "interfaces", "eth0", "--sysfs", "/nonexistent"}, tree: "basic"},
	{name: "revalidate/nosysfs", argv: []string{"aoe", "revalidate", "e1.2", "--sysfs", "/nonexistent"}, tree: "basic"},
	{name: "revalidate/leading-zero", argv: []string{"aoe", "revalidate", "e01.2"}, tree: "basic"},
	{name: "revalidate/duplicate", argv: []string{"aoe", "revalidate", "e1.2", "e1.2"}, tree: "basic"},
	{name: "aoe-revalidate/leading-zero", argv: []string{"aoe-revalidate", "e01.2"}, tree: "basic"},
	{name: "aoe-revalidate/second-unknown", argv: []string{"aoe-revalidate", "e1.2", "e9.9"}, tree: "basic"},
	{name: "aoe-revalidate/first-unknown", argv: []string{"aoe-revalidate", "e9.9", "e1.2"}, tree: "basic"},

	// version (modinfo answers 85 unless noModinfo)
	{name: "aoe-version/loaded", argv: []string{"aoe-version"}, tree: "basic"},
	{name: "aoe-version/not-loaded", argv: []string{"aoe-version"}, tree: "nomodule"},
	{name: "aoe-version/no-modinfo", argv: []string{"aoe-version"}, tree: "nomodule", noModinfo: true},
	{name: "version/loaded", argv: []string{"aoe", "version"}, tree: "basic"},
	{name: "version/json", argv: []string{"aoe", "version", "--json"}, tree: "nomodule"},
	{name: "version/json-loaded", argv: []string{"aoe", "version", "--json"}, tree: "basic"},
	{name: "version/json-no-modinfo", argv: []string{"aoe", "version", "--json"}, tree: "nomodule", noModinfo: true},

	// root
	{name: "aoe/help", argv: []string{"aoe", "--help"}},
	{name: "aoe/unknown-command", argv: []string{"aoe", "bogus"}},
	{name: "aoe/version", argv: []string{"aoe", "--version"}},
	{name: "aoe-stat/version", argv: []string{"aoe-stat", "--version"}},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			sys := "/nonexistent/sys"
			if tc.tree != "" {
				sys = filepath.Join(fixtures, tc.tree)
				if tc.writable {
					sys = copyTree(t, tc.tree, t.TempDir())
				}
			}
			argv := []string{tc.argv[0], "--devdir", testDevDir}
			if tc.env["sysfs_dir"] == "" {
				argv = append(argv, "--sysfs", sys)
			}
			if tc.argv[0] == "aoe" && len(tc.argv) > 1 && !strings.HasPrefix(tc.argv[1], "-") {
				// flags after the subcommand name, as people type them
				argv = []string{"aoe", tc.argv[1], "--devdir", testDevDir}
				if tc.env["sysfs_dir"] == "" {
					argv = append(argv, "--sysfs", sys)
				}
				argv = append(argv, tc.argv[2:]...)
			} else {
				argv = append(argv, tc.argv[1:]...)
			}
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = strings.ReplaceAll(v, "SYS", sys)
			}
			modinfo := func(string) (string, error) { return "85\n", nil }
			if tc.noModinfo {
				modinfo = func(string) (string, error) { return "", errors.New("modinfo: ERROR: Module aoe not found.") }
			}
			r := execute(t, argv, runOpts{env: env, realNodes: tc.realNodes, procRoot: tc.procRoot, modinfo: modinfo})
			got := r.transcript(tc.argv, map[string]string{sys: "$SYSFS"})
			if tc.writable {
				// what was written to the module parameter
				b, err := os.ReadFile(filepath.Join(sys, "module/aoe/parameters/aoe_iflist"))
				if err == nil {
					got += fmt.Sprintf("-- aoe_iflist %q --\n", b)
				}
			}
			checkGolden(t, tc.name, got)
		})
	}
}
