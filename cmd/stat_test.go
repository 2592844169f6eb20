package cmd

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/goaoe/aoe/internal/safetext"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// TestTableMatchesTablewriter: the one table renderer prints what
// tablewriter v1 printed for the tables before it (borderless, columns two
// blanks apart, no trailing blanks), on tables of random cells, empty ones
// and wide characters included; the goldens hold the real tables.
func TestTableMatchesTablewriter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"e1.2", "1.07 GB", "-", "eth0,eth1", "1024", "up", "down,closewait", "x", "", "ünïcode", "日本"}
	for n := 0; n < 300; n++ {
		cols := 1 + r.IntN(6)
		header := make([]string, cols)
		aligns := make([]tw.Align, cols)
		for k := range header {
			header[k] = fmt.Sprintf("COL%d", k)
			aligns[k] = tw.AlignLeft
			if r.IntN(2) == 0 {
				aligns[k] = tw.AlignRight
			}
		}
		var rows [][]string
		for range 1 + r.IntN(5) {
			row := make([]string, cols)
			for k := range row {
				row[k] = words[r.IntN(len(words))]
			}
			rows = append(rows, row)
		}
		var want, got bytes.Buffer
		if err := tablewriterTable(&want, header, rows, aligns); err != nil {
			t.Fatal(err)
		}
		if err := writeTable(&got, header, rows, aligns); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("rows %q aligns %v:\ntablewriter:\n%s\nwriteTable:\n%s", rows, aligns, want.String(), got.String())
		}
	}
}

// tablewriterTable is the renderer of the tables before table.render:
// tablewriter v1, borderless, trailing blanks cut.
func tablewriterTable(w io.Writer, header []string, rows [][]string, aligns []tw.Align) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithPadding(tw.Padding{Right: "  ", Overwrite: true}),
		tablewriter.WithAlignment(tw.Alignment(aligns)),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
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
		if got := safetext.String(in); got != want {
			t.Errorf("safetext.String(%q) = %q, want %q", in, got, want)
		}
	}
}
