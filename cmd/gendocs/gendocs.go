package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/goaoe/aoe/cmd"
	"github.com/spf13/cobra/doc"
)

// docsDate is the date printed in the man pages. It is fixed, so that
// generating them gives the same bytes every time; bump it when the pages
// change for a release.
var docsDate = time.Date(2026, time.November, 21, 0, 0, 0, 0, time.UTC)

// GenDocs writes the man pages (section 8: aoe.8, aoe-stat.8, ... which are
// also the classic aoetools page names) to manDir and Markdown pages to
// mdDir. Either may be empty to skip it.
func GenDocs(manDir, mdDir string) error {
	root := cmd.NewRootCmd(&cmd.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }})
	root.InitDefaultHelpCmd()
	if manDir != "" {
		if err := os.MkdirAll(manDir, 0o755); err != nil {
			return err
		}
		header := &doc.GenManHeader{
			Section: "8",
			Source:  "goaoe",
			Manual:  "System Administration",
			Date:    &docsDate,
		}
		manRoot := cmd.NewRootCmd(&cmd.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }})
		manRoot.InitDefaultHelpCmd()
		splitExit(manRoot)
		if err := doc.GenManTree(manRoot, header, manDir); err != nil {
			return err
		}
		if err := addSections(manRoot, header.Section, manDir); err != nil {
			return err
		}
		// aoeping and aoecfg take aoetools' arguments, not those of aoe ping
		// and aoe cfg, and aoe-mkdevs and aoe-mkshelf exist only under those
		// names: they get pages of their own.
		for _, name := range []string{"aoeping", "aoecfg", "aoe-mkdevs", "aoe-mkshelf"} {
			c := cmd.NewCommand(name, &cmd.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }})
			splitExit(c)
			if err := doc.GenManTree(c, header, manDir); err != nil {
				return err
			}
			if err := addSections(c, header.Section, manDir); err != nil {
				return err
			}
		}
	}
	if mdDir != "" {
		if err := os.MkdirAll(mdDir, 0o755); err != nil {
			return err
		}
		if err := doc.GenMarkdownTree(root, mdDir); err != nil {
			return err
		}
	}
	return nil
}

// checkDocs reports the generated pages that differ from the ones in dir.
func checkDocs(gen, committed string) error {
	entries, err := os.ReadDir(gen)
	if err != nil {
		return err
	}
	for _, e := range entries {
		want, err := os.ReadFile(filepath.Join(gen, e.Name()))
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(committed, e.Name()))
		if err != nil || !bytes.Equal(got, want) {
			return fmt.Errorf("%s is stale or missing: run 'make docs' and commit it", filepath.Join(committed, e.Name()))
		}
	}
	return nil
}
