package cmd

import (
	"errors"
	"fmt"
	"os"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// checkNode verifies a control node before it is used (the classic
// commands' is checkClassicNode).
func (g *globalOptions) checkNode(cmd *cobra.Command, node string) error {
	err := g.control().Check(node)
	if err == nil {
		return nil
	}
	return g.nodeError(cmd, err)
}

// nodeError reports a failed check or write of a control node (the
// classic commands' is classicNodeError).
func (g *globalOptions) nodeError(cmd *cobra.Command, err error) error {
	var ne *aoectl.NodeError
	if !errors.As(err, &ne) {
		if errors.Is(err, os.ErrPermission) {
			return kindErrorf(ErrPermission, "%v; run as root", err)
		}
		return err
	}
	fs := sysfs.FS{}
	if f, ferr := sysfs.NewFS(g.sysfsDir(cmd)); ferr == nil {
		fs = f
	}
	switch {
	case errors.Is(ne.Err, aoectl.ErrNodeNotWritable):
		if _, serr := os.Stat(ne.Path); serr == nil {
			return kindErrorf(ErrPermission, "cannot write %s; run as root", ne.Path)
		}
		if fs.Root() != "" && !fs.ModuleLoaded() {
			return kindErrorf(ErrNoDriver, "%s does not exist: the aoe driver is not loaded; load it with: modprobe aoe", ne.Path)
		}
		return kindErrorf(ErrNoDriver, "%s does not exist although the aoe driver is loaded: mount devtmpfs on /dev (or run udev), or point --devdir at the nodes", ne.Path)
	default:
		return kindErrorf(ErrNoDriver, "%v: remove it and reload the driver (rmmod aoe; modprobe aoe) so that devtmpfs recreates it", ne)
	}
}

// openFS opens the sysfs tree the command works on (--sysfs, else
// $sysfs_dir, else /sys). An empty --sysfs is a usage error.
func (g *globalOptions) openFS(cmd *cobra.Command) (sysfs.FS, error) {
	root := g.sysfsDir(cmd)
	fs, err := sysfs.NewFS(root)
	switch {
	case err == nil:
		return fs, nil
	case errors.Is(err, sysfs.ErrNoRoot):
		return fs, usageErrorf("--sysfs: empty path")
	case errors.Is(err, os.ErrNotExist):
		return fs, fmt.Errorf("sysfs root %s does not exist (check --sysfs or $sysfs_dir)", root)
	case errors.Is(err, sysfs.ErrNotMounted):
		return fs, fmt.Errorf("%w: mount it with: mount -t sysfs sysfs /sys", err)
	}
	return fs, err
}

// checkRootFlags rejects an empty --sysfs or --devdir: an empty path is a
// mistake (an unset shell variable), not a place to look at.
func (g *globalOptions) checkRootFlags(cmd *cobra.Command) error {
	for _, name := range []string{"sysfs", "devdir"} {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed && f.Value.String() == "" {
			return usageErrorf("--%s: empty path", name)
		}
	}
	return nil
}
