// Command gendocs writes the aoe man pages and Markdown documentation:
// go run ./cmd/gendocs -man man -md docs
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	man := flag.String("man", "man", "directory for the man pages (empty: none)")
	md := flag.String("md", "docs", "directory for the Markdown pages (empty: none)")
	flag.Parse()
	if err := GenDocs(*man, *md); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
