package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/goaoe/aoe/internal/boot"
	"github.com/spf13/cobra"
)

// aoe migrate is run by the package's postinst when it replaces
// an aoetools that was in use (see dist/debian/preinst): it carries what
// aoetools did at boot over into /etc/aoe/aoe.conf. Hidden: it is the
// package's, not the administrator's.
func init() { subcommands = append(subcommands, newMigrateAoetoolsCmd) }

func newMigrateAoetoolsCmd(g *globalOptions) *cobra.Command {
	files := boot.DefaultFiles()
	initDir := "/run/systemd/system"
	cmd := &cobra.Command{
		Use:    "migrate",
		Short:  "Carry aoetools' boot behaviour over into aoe.conf (package postinst)",
		Hidden: true,
		Args:   argsCheck(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			read := func(p string) ([]byte, error) {
				b, err := os.ReadFile(p)
				if errors.Is(err, fs.ErrNotExist) {
					return nil, nil
				}
				return b, err
			}
			conf, err := read(files.Config)
			if err != nil {
				return err
			}
			legacy, err := read(files.Legacy)
			if err != nil {
				return err
			}
			fstab, err := read(files.Fstab)
			if err != nil {
				return err
			}
			_, serr := os.Stat(initDir)
			m, err := boot.MigrateAoetools(conf, legacy, fstab, serr == nil, time.Now().UTC().Format("2006-01-02"))
			if err != nil {
				return fmt.Errorf("%v: not changed", err)
			}
			if m.Needed {
				if err := appendFile(files.Config, conf, m.Append); err != nil {
					return err
				}
			}
			for _, msg := range m.Messages {
				fmt.Fprintln(g.stdout(), msg)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&files.Config, "config", files.Config, "the configuration file to write")
	f.StringVar(&files.Legacy, "legacy-config", files.Legacy, "aoetools' configuration file")
	f.StringVar(&files.Fstab, "fstab", files.Fstab, "the fstab")
	f.StringVar(&initDir, "systemd-dir", initDir, "present when systemd is the init system")
	return cmd
}

// appendFile writes old+add to path through a temporary file renamed over
// it (keeping its mode), so that a crash leaves the old or the new file.
func appendFile(path string, old []byte, add string) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".aoe.conf.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(append([]byte{}, old...), add...)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
