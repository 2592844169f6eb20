package cmd

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goaoe/aoe/internal/safetext"
	"github.com/olekukonko/ll"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/tw"
	"golang.org/x/sys/unix"
)

// writeJSON prints v as indented JSON, with every character a terminal
// could act on escaped (safetext.JSON: encoding/json lets C1 and bidi
// controls through raw).
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(safetext.JSON(buf.Bytes()))
	return err
}

// column is a column of a table.
type column struct {
	header string
	right  bool // right-aligned (numbers)
	// drop orders the columns a table leaves out to fit the terminal:
	// 0 is never left out; the others go from 1 up, the rightmost first
	// among equals.
	drop int
}

// table is a borderless table for people: a header line, then one line
// per row, columns two blanks apart, no trailing blanks. Cells must be
// single lines, escaped already (safetext).
type table struct {
	cols []column
	rows [][]string
}

// tableWidth is the number of columns a table may take: the terminal's
// when stdout is one (Env.TermWidth), overridden by $COLUMNS when it is a
// positive number, as for ls(1); 0 when stdout is not a terminal, so that
// what scripts read never depends on a terminal.
func (g *globalOptions) tableWidth() int {
	if g.env.TermWidth == nil {
		return 0
	}
	w := g.env.TermWidth()
	if w <= 0 {
		return 0
	}
	if c, err := strconv.Atoi(g.env.Getenv("COLUMNS")); err == nil && c > 0 {
		return c
	}
	return w
}

// stdoutTermWidth is Env.TermWidth of the running process: the width of
// stdout when it is a terminal, else 0.
func stdoutTermWidth(fd int) func() int {
	return func() int {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err != nil {
			return 0
		}
		return int(ws.Col)
	}
}

// render prints the table through tablewriter. When width is positive
// and the table is wider, columns are left out (see column.drop) until it
// fits or only those never left out remain, and a last line names them.
//
// tablewriter lays the table out (widths, alignment, padding) and hands
// each line to lineRenderer. It is given the body as one row whose cells
// are the columns' cells one per line (cells are single lines): a
// listing of 10,000 devices then costs one pass of tablewriter's per-row
// work, not 10,000, and aoe stat stays near the floor (BenchmarkStatFloor).
func (t table) render(w io.Writer, width int) error {
	keep := make([]bool, len(t.cols))
	for k := range keep {
		keep[k] = true
	}
	var hidden []string
	if width > 0 {
		hidden = fit(t.cols, t.widths(), keep, width)
	}
	var header []string
	var aligns []tw.Align
	var pads []tw.Padding
	var body []strings.Builder
	for k, c := range t.cols {
		if !keep[k] {
			continue
		}
		header = append(header, c.header)
		align := tw.AlignLeft
		if c.right {
			align = tw.AlignRight
		}
		aligns = append(aligns, align)
		pads = append(pads, tw.Padding{Right: "  ", Overwrite: true}) // columns two blanks apart
		var col strings.Builder
		for i, r := range t.rows {
			if i > 0 {
				col.WriteByte('\n')
			}
			col.WriteString(r[k])
		}
		body = append(body, col)
	}
	pads[len(pads)-1] = tw.PaddingNone
	cells := tw.CellConfig{
		Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone, AutoFormat: tw.Off},
		Padding:    tw.CellPadding{Global: tw.PaddingNone, PerColumn: pads},
		Alignment:  tw.CellAlignment{PerColumn: aligns},
	}
	r := &lineRenderer{}
	tbl := tablewriter.NewTable(io.Discard,
		tablewriter.WithRenderer(r),
		tablewriter.WithConfig(tablewriter.Config{Header: cells, Row: cells}),
		tablewriter.WithBehavior(tw.Behavior{TrimSpace: tw.Off, TrimLine: tw.Off, TrimTab: tw.Off}))
	tbl.Header(header)
	if len(t.rows) > 0 {
		row := make([]string, len(body))
		for k := range body {
			row[k] = body[k].String()
		}
		if err := tbl.Append(row); err != nil {
			return err
		}
	}
	if err := tbl.Render(); err != nil {
		return err
	}
	b := r.buf
	if len(hidden) > 0 {
		b = fmt.Appendf(b, "(%s hidden to fit %d columns: widen the terminal, or use --json)\n", strings.Join(hidden, ", "), width)
	}
	_, err := w.Write(b)
	return err
}

// widths returns the width of each column: its widest cell or header.
func (t table) widths() []int {
	widths := make([]int, len(t.cols))
	for k, c := range t.cols {
		widths[k] = cellWidth(c.header)
	}
	for _, r := range t.rows {
		for k, c := range r {
			widths[k] = max(widths[k], cellWidth(c))
		}
	}
	return widths
}

// lineRenderer is the tw.Renderer of the project's tables: borderless,
// one line per header or row line, each cell padded to the width
// tablewriter gives its column (padding included) and aligned as it says,
// no trailing blanks. It collects the lines in buf.
type lineRenderer struct {
	buf []byte
}

func (r *lineRenderer) Start(io.Writer) error { return nil }

func (r *lineRenderer) Header(lines [][]string, ctx tw.Formatting) {
	for _, l := range lines {
		r.line(l, ctx)
	}
}

func (r *lineRenderer) Row(row []string, ctx tw.Formatting) { r.line(row, ctx) }

func (r *lineRenderer) line(cells []string, ctx tw.Formatting) {
	start := len(r.buf)
	for k, s := range cells {
		c := ctx.Row.Current[k]
		pad := ctx.Row.Widths.Get(k) - cellWidth(s) - len(c.Padding.Right)
		if c.Align == tw.AlignRight {
			r.buf = appendBlanks(r.buf, pad)
		}
		r.buf = append(r.buf, s...)
		if c.Align != tw.AlignRight {
			r.buf = appendBlanks(r.buf, pad)
		}
		r.buf = append(r.buf, c.Padding.Right...)
	}
	for len(r.buf) > start && r.buf[len(r.buf)-1] == ' ' {
		r.buf = r.buf[:len(r.buf)-1]
	}
	r.buf = append(r.buf, '\n')
}

func (r *lineRenderer) Footer([][]string, tw.Formatting) {}
func (r *lineRenderer) Line(tw.Formatting)               {}
func (r *lineRenderer) Close() error                     { return nil }
func (r *lineRenderer) Logger(*ll.Logger)                {}

func (r *lineRenderer) Config() tw.Rendition {
	return tw.Rendition{
		Borders: tw.BorderNone,
		Settings: tw.Settings{
			Separators: tw.Separators{ShowHeader: tw.Off, ShowFooter: tw.Off, BetweenRows: tw.Off, BetweenColumns: tw.Off},
			Lines:      tw.Lines{ShowTop: tw.Off, ShowBottom: tw.Off, ShowHeaderLine: tw.Off, ShowFooterLine: tw.Off},
		},
	}
}

// fit clears keep for the columns left out so that a table of these
// column widths fits width, and returns their headers in table order.
func fit(cols []column, widths []int, keep []bool, width int) []string {
	total := func() int {
		n, sum := 0, 0
		for k := range cols {
			if keep[k] {
				n++
				sum += widths[k]
			}
		}
		return sum + 2*max(n-1, 0)
	}
	order := make([]int, 0, len(cols))
	for k, c := range cols {
		if c.drop > 0 {
			order = append(order, k)
		}
	}
	slices.SortStableFunc(order, func(i, j int) int {
		return cmp.Or(cmp.Compare(cols[i].drop, cols[j].drop), cmp.Compare(j, i))
	})
	for _, k := range order {
		if total() <= width {
			break
		}
		keep[k] = false
	}
	var hidden []string
	for k, c := range cols {
		if !keep[k] {
			hidden = append(hidden, c.header)
		}
	}
	return hidden
}

// writeTable prints a table of left- or right-aligned columns (tw.Align,
// as tablewriter takes), never fitted to a terminal; the commands of
// others call it. New tables are a table rendered with the terminal's
// width (globalOptions.tableWidth).
func writeTable(w io.Writer, header []string, rows [][]string, aligns []tw.Align) error {
	t := table{rows: rows}
	for k, h := range header {
		t.cols = append(t.cols, column{header: h, right: k < len(aligns) && aligns[k] == tw.AlignRight})
	}
	return t.render(w, 0)
}

func appendBlanks(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, ' ')
	}
	return b
}

// cellWidth is the width of s on a terminal.
func cellWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return twwidth.Width(s)
		}
	}
	return len(s)
}
