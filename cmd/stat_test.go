package cmd

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/olekukonko/tablewriter/tw"
)

// TestWriteAlignedMatchesWriteTable: the stat table's own renderer prints
// what tablewriter (writeTable) prints, on tables of random cells.
func TestWriteAlignedMatchesWriteTable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"e1.2", "1.07 GB", "-", "eth0,eth1", "1024", "up", "down,closewait", "x", "", "ünïcode", "日本"}
	for n := 0; n < 200; n++ {
		cols := 1 + r.IntN(6)
		header := make([]string, cols)
		right := make([]bool, cols)
		aligns := make([]tw.Align, cols)
		for k := range header {
			header[k] = fmt.Sprintf("COL%d", k)
			right[k] = r.IntN(2) == 0
			aligns[k] = tw.AlignLeft
			if right[k] {
				aligns[k] = tw.AlignRight
			}
		}
		var rows [][]string
		for range 1 + r.IntN(5) {
			row := make([]string, cols)
			for k := range row {
				row[k] = words[r.IntN(len(words))]
				if row[k] == "" {
					row[k] = "-"
				}
			}
			rows = append(rows, row)
		}
		var want, got bytes.Buffer
		if err := writeTable(&want, header, rows, aligns); err != nil {
			t.Fatal(err)
		}
		if err := writeAligned(&got, header, rows, right); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("rows %q right %v:\nwriteTable:\n%s\nwriteAligned:\n%s", rows, right, want.String(), got.String())
		}
	}
}

func TestEscapeControl(t *testing.T) {
	for in, want := range map[string]string{
		"up":              "up",
		"eth0,eth1":       "eth0,eth1",
		"up\x1b[2J":       `up\x1b[2J`,
		"a\nb":            `a\x0ab`,
		"ünï":             "ünï",
		"\xff":            `\xff`,
		"back\\slash":     `back\\slash`,
		"c1\u009b":        `c1\xc2\x9b`,
		"del\x7f":         `del\x7f`,
		"tab\there":       `tab\x09here`,
		"日本":              "日本",
		"":                "",
		"nul\x00":         `nul\x00`,
		"mixed\x01ü\x02z": `mixed\x01ü\x02z`,
	} {
		if got := escapeControl(in); got != want {
			t.Errorf("escapeControl(%q) = %q, want %q", in, got, want)
		}
	}
}
