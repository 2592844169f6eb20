package sysfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultRoot is where sysfs is mounted on a running system.
const DefaultRoot = "/sys"

// FS is a sysfs tree rooted at a directory.
type FS struct {
	root string
}

// NewFS returns the sysfs tree at root. It fails with ErrNoRoot when root
// is empty, with an *os.PathError wrapping os.ErrNotExist (or another stat
// error) when root does not exist, and with an error wrapping ErrNotMounted
// when root/block is not a directory.
func NewFS(root string) (FS, error) {
	if root == "" {
		return FS{}, ErrNoRoot
	}
	if _, err := os.Stat(root); err != nil {
		return FS{}, err
	}
	fi, err := os.Stat(filepath.Join(root, "block"))
	if err != nil || !fi.IsDir() {
		return FS{}, fmt.Errorf("%s: %w", filepath.Join(root, "block"), ErrNotMounted)
	}
	return FS{root: root}, nil
}

// Root returns the directory the tree is rooted at.
func (fs FS) Root() string { return fs.root }

// Path joins elem to the root.
func (fs FS) Path(elem ...string) string {
	return filepath.Join(append([]string{fs.root}, elem...)...)
}

// ModuleLoaded reports whether the aoe driver is present (root/module/aoe
// exists), either as a loaded module or built into the kernel.
func (fs FS) ModuleLoaded() bool { return moduleLoaded(fs.root) }

// moduleLoaded is the one check of the driver's presence, under the sysfs
// root sys.
func moduleLoaded(sys string) bool {
	_, err := os.Stat(filepath.Join(sys, "module", "aoe"))
	return err == nil
}

// ModuleVersion returns the running driver's version string, such as "85",
// from root/module/aoe/version.
func (fs FS) ModuleVersion() (string, error) {
	b, err := readAttr(fs.Path("module", "aoe", "version"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// InterfaceListPath is the path of the aoe_iflist module parameter.
func (fs FS) InterfaceListPath() string {
	return fs.Path("module", "aoe", "parameters", "aoe_iflist")
}

// InterfaceList reads the aoe_iflist module parameter and returns it as the
// kernel would tokenize it: split on white space and commas. An empty list
// means that every interface is allowed.
func (fs FS) InterfaceList() ([]string, error) {
	b, err := readAttr(fs.InterfaceListPath())
	if err != nil {
		return nil, err
	}
	return ParseInterfaceList(string(b)), nil
}

// ParseInterfaceList splits an aoe_iflist value into interface names. The
// driver accepts spaces, tabs, vertical tabs, form feeds, newlines and (since
// driver v81) commas as separators; a NUL ends the value.
func ParseInterfaceList(s string) []string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.FieldsFunc(s, func(r rune) bool {
		switch r {
		case ' ', '\t', '\v', '\f', '\n', '\r', ',':
			return true
		}
		return false
	})
}

// NetInterfaceExists reports whether root/class/net/name exists, as
// aoe-interfaces checks before setting the list.
func (fs FS) NetInterfaceExists(name string) bool {
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return false
	}
	fi, err := os.Stat(fs.Path("class", "net", name))
	return err == nil && fi.IsDir()
}
