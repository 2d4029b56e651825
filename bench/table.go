package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/folio-ocr/folio/internal/textmetric"
)

// row is one line of the table: a measurement of one way of processing the
// pages of a set.
type row struct {
	set   string // "scanned", "born-digital", ...
	id    string // how targets of rows of the same set refer to this one
	name  string
	pages int
	took  time.Duration // wall time for all pages
	cer   *cerStats     // nil: not measured
	// failed counts pages whose output carried an error instead of text;
	// failure describes the first.
	failed  int
	failure string
	rss     string // peak resident set size, "" if not measured
	note    string
	// problem, when set, says why the row has no figures ("skipped
	// (install ocrmypdf)", or an error).
	problem string
	targets []target
}

// target is a goal for a row's pages/s as a ratio to a reference row.
type target struct {
	ref    string  // id of the reference row, in the same set as the row
	label  string  // the reference's short name in the table
	min    float64 // ratio of pages/s to reach (1/1.2: at most 1.2× the reference's time)
	strict bool    // the ratio must be above min, not just reach it
	info   bool    // the ratio is shown for information, not judged (min unused)
}

// measured reports whether the row has figures.
func (r *row) measured() bool { return r.problem == "" && r.took > 0 }

// rate is pages per second.
func (r *row) rate() float64 { return float64(r.pages) / r.took.Seconds() }

// skippedRow is a row that could not run, with the reason shown.
func skippedRow(set, id, name, problem string) *row {
	return &row{set: set, id: id, name: name, problem: problem}
}

// cerStats accumulates the character error rate over pages: the sum of
// Levenshtein distances over the sum of ground-truth characters, both after
// textmetric.Normalize.
type cerStats struct {
	dist, chars, pages int
}

// add counts one page.
func (c *cerStats) add(want, got string) {
	w, g := textmetric.Normalize(want), textmetric.Normalize(got)
	c.dist += textmetric.Distance(w, g)
	c.chars += utf8.RuneCountInString(w)
	c.pages++
}

// rate is the character error rate; 0 over no characters.
func (c *cerStats) rate() float64 {
	if c.chars == 0 {
		return 0
	}
	return float64(c.dist) / float64(c.chars)
}

// cerCell is the CER column of r.
func (r *row) cerCell() string {
	switch {
	case r.cer == nil || r.cer.pages == 0:
		return "–"
	case r.cer.pages < r.pages:
		return fmt.Sprintf("%.2f%% (%d of %d pages)", 100*r.cer.rate(), r.cer.pages, r.pages)
	default:
		return fmt.Sprintf("%.2f%%", 100*r.cer.rate())
	}
}

// rateCell is the pages/s column of r; none when pages failed, as their
// time does not count the work they lacked.
func (r *row) rateCell() string {
	if !r.measured() {
		return r.problem
	}
	if r.failed > 0 {
		return "–"
	}
	v := r.rate()
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// refKey is how a row of set with id is found by the targets of the rows
// of its set: ids are per set, so that a set measured on two files (the
// born-digital file and book) has a reference row of each id per file.
func refKey(set, id string) string { return set + "\x00" + id }

// targetCell is the "vs target" column of r: each target's ratio with ✓ or
// ✗, or why it cannot be judged. byID holds the rows by refKey.
func (r *row) targetCell(byID map[string]*row) string {
	if len(r.targets) == 0 {
		return ""
	}
	if !r.measured() {
		return "–"
	}
	if r.failed > 0 {
		return "– (pages failed)"
	}
	var parts []string
	for _, t := range r.targets {
		ref := byID[refKey(r.set, t.ref)]
		if ref == nil || !ref.measured() {
			parts = append(parts, fmt.Sprintf("%s not measured", t.label))
			continue
		}
		ratio := r.rate() / ref.rate()
		if t.info {
			parts = append(parts, fmt.Sprintf("%.2f× %s", ratio, t.label))
			continue
		}
		op, ok := "≥", ratio >= t.min
		if t.strict {
			op, ok = ">", ratio > t.min
		}
		mark := "✗"
		if ok {
			mark = "✓"
		}
		parts = append(parts, fmt.Sprintf("%.2f× %s (%s%s %s)", ratio, t.label, op, ratioText(t.min), mark))
	}
	return strings.Join(parts, "; ")
}

// ratioText formats a target ratio with at most two decimals: 0.9, 1,
// and 0.83 for 1/1.2.
func ratioText(v float64) string {
	if s := strconv.FormatFloat(v, 'f', -1, 64); len(s) <= len(strconv.FormatFloat(v, 'f', 2, 64)) {
		return s
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// noteCell is the note column of r, led by its page failures.
func (r *row) noteCell() string {
	if r.failed == 0 {
		return r.note
	}
	f := fmt.Sprintf("**%d/%d pages failed** (%s)", r.failed, r.pages, r.failure)
	if r.note == "" {
		return f
	}
	return f + "; " + r.note
}

// renderTable writes rows as one markdown table, columns padded so that it
// also reads well in a terminal.
func renderTable(w io.Writer, rows []*row) error {
	byID := map[string]*row{}
	for _, r := range rows {
		if r.id != "" {
			byID[refKey(r.set, r.id)] = r
		}
	}
	cells := [][]string{{"set", "measurement", "pages", "wall", "pages/s", "vs target", "CER", "peak RSS", "note"}}
	for _, r := range rows {
		pages, wall := "", ""
		if r.measured() {
			pages, wall = fmt.Sprint(r.pages), fmt.Sprintf("%.2f s", r.took.Seconds())
		}
		cells = append(cells, []string{r.set, r.name, pages, wall, r.rateCell(), r.targetCell(byID),
			r.cerCell(), r.rss, r.noteCell()})
	}
	_, err := io.WriteString(w, markdownTable(cells))
	return err
}

// markdownTable formats cells (the first row is the header) as a markdown
// table with every column padded to its widest cell.
func markdownTable(cells [][]string) string {
	for _, line := range cells {
		for i, c := range line {
			line[i] = strings.ReplaceAll(c, "|", `\|`)
		}
	}
	widths := make([]int, len(cells[0]))
	for _, line := range cells {
		for i, c := range line {
			widths[i] = max(widths[i], utf8.RuneCountInString(c), 3)
		}
	}
	var b strings.Builder
	line := func(cs []string) {
		b.WriteString("|")
		for i, c := range cs {
			b.WriteString(" " + c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)) + " |")
		}
		b.WriteString("\n")
	}
	line(cells[0])
	rule := make([]string, len(widths))
	for i, w := range widths {
		rule[i] = strings.Repeat("-", w)
	}
	line(rule)
	for _, cs := range cells[1:] {
		line(cs)
	}
	return b.String()
}
