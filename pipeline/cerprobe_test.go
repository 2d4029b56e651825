package pipeline

// A tool for layout work, skipped unless FOLIO_CER_PROBE=1: per-page and
// whole-document CER of BuildTextAnnotation against pdftotext over the R
// manuals (FOLIO_CER_FILES="R-data R-exts" to choose; an entry containing "/"
// is the path of any PDF, e.g. data/cer-corpus/x.pdf relative to the
// repository root). The document's fonts are sampled as the jobs package
// does (FOLIO_CER_NOFONTS=1 to leave them out, FOLIO_CER_NOSTYLES=1 their
// Styles alone). Extracted characters and pdftotext's text are cached in
// /tmp/folio-probe by file name: delete it after changing pdf.go.
// FOLIO_DUMP_FILE (a name or path, as above) and FOLIO_DUMP_PAGE make
// TestLayoutDump print a page's blocks and lines.

import (
	"context"
	"encoding/gob"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/folio-ocr/folio/internal/textmetric"
)

var probeDir = func() string {
	if d := os.Getenv("FOLIO_PROBE_DIR"); d != "" {
		return d
	}
	return "/tmp/folio-probe"
}()

type probeDoc struct {
	Pages []*Page
	Want  []string
}

func loadProbe(t *testing.T, path string) *probeDoc {
	cache := filepath.Join(probeDir, filepath.Base(path)+".gob")
	if f, err := os.Open(cache); err == nil {
		defer f.Close()
		var d probeDoc
		if err := gob.NewDecoder(f).Decode(&d); err == nil {
			return &d
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	doc, err := testPDF(t).Open(context.Background(), f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	d := &probeDoc{}
	fonts, err := doc.(FontSampler).SampleFonts(context.Background(), FontSamplePages(doc.PageCount()))
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= doc.PageCount(); n++ {
		p, err := doc.Page(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		if os.Getenv("FOLIO_CER_NOFONTS") == "" {
			p.Fonts = fonts
		}
		d.Pages = append(d.Pages, p)
		out, err := exec.Command("pdftotext", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), "-enc", "UTF-8", path, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		d.Want = append(d.Want, string(out))
	}
	os.MkdirAll(probeDir, 0o755)
	w, _ := os.Create(cache)
	gob.NewEncoder(w).Encode(d)
	w.Close()
	return d
}

// probePath returns the PDF a FOLIO_CER_FILES or FOLIO_DUMP_FILE entry
// names: an R manual by name, or a path (relative ones from the repository
// root) when it contains "/".
func probePath(name string) string {
	if !strings.Contains(name, "/") {
		return "/usr/share/R/doc/manual/" + name + ".pdf"
	}
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join("..", name)
}

// probeName is a short name of a probe entry for output and dump files.
func probeName(name string) string {
	return strings.TrimSuffix(filepath.Base(name), ".pdf")
}

func TestCERProbe(t *testing.T) {
	if os.Getenv("FOLIO_CER_PROBE") == "" {
		t.Skip("FOLIO_CER_PROBE not set")
	}
	files := strings.Fields(os.Getenv("FOLIO_CER_FILES"))
	if len(files) == 0 {
		files = []string{"R-intro"}
	}
	verbose := os.Getenv("FOLIO_CER_VERBOSE")
	dump := os.Getenv("FOLIO_CER_DUMP") // page number to dump
	for _, entry := range files {
		d := loadProbe(t, probePath(entry))
		name := probeName(entry)
		type res struct {
			n, dist, total, nsp int
		}
		rs := make([]res, len(d.Pages))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2)
		for i, p := range d.Pages {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if p.Fonts != nil && os.Getenv("FOLIO_CER_NOSTYLES") != "" {
					f := *p.Fonts
					f.Styles = nil
					q := *p
					q.Fonts = &f
					p = &q
				}
				ta := BuildTextAnnotation(p)
				w := textmetric.Normalize(strings.ReplaceAll(d.Want[i], "\f", ""))
				g := textmetric.Normalize(strings.ReplaceAll(ta.Text, "-\n", ""))
				rs[i] = res{i + 1, textmetric.Distance(w, g), len([]rune(w)), textmetric.Distance(strings.ReplaceAll(w, " ", ""), strings.ReplaceAll(g, " ", ""))}
				if dump == strconv.Itoa(i+1) {
					os.WriteFile(fmt.Sprintf(probeDir+"/%s-%d.want", name, i+1), []byte(d.Want[i]), 0o644)
					os.WriteFile(fmt.Sprintf(probeDir+"/%s-%d.got", name, i+1), []byte(ta.Text), 0o644)
				}
			}()
		}
		wg.Wait()
		var dist, total, nsp int
		for _, r := range rs {
			dist += r.dist
			total += r.total
			nsp += r.nsp
		}
		fmt.Printf("%-12.30s %4d pages %7d chars  CER %.3f%%  (dist %d, without spaces %d)\n", name, len(rs), total, 100*float64(dist)/float64(total), dist, nsp)
		if verbose != "" {
			sort.Slice(rs, func(a, b int) bool { return rs[a].dist > rs[b].dist })
			for _, r := range rs[:min(len(rs), 25)] {
				if r.dist == 0 {
					break
				}
				fmt.Printf("   p%-4d dist %5d  CER %.2f%%  nospace %d\n", r.n, r.dist, 100*float64(r.dist)/float64(max(r.total, 1)), r.nsp)
			}
		}
	}
}

func TestLayoutDump(t *testing.T) {
	name, pg := os.Getenv("FOLIO_DUMP_FILE"), os.Getenv("FOLIO_DUMP_PAGE")
	if name == "" {
		t.Skip()
	}
	d := loadProbe(t, probePath(name))
	n, _ := strconv.Atoi(pg)
	p := d.Pages[n-1]
	var gs []glyph
	vis := 0
	for _, c := range p.Chars {
		if isBreakRune(c.Rune) {
			if len(gs) > 0 {
				gs[len(gs)-1].spaceAfter = true
			}
			continue
		}
		gs = append(gs, glyph{r: c.Rune, box: c.Box, idx: vis})
		vis++
	}
	bs := layoutBlocks(gs, p.Fonts)
	for i, b := range bs {
		fmt.Printf("block %d x %.1f..%.1f y %.1f..%.1f  E %.1f..%.1f  fs %.2f table %d\n", i, b.x0, b.x1, b.y0, b.y1, b.ex0, b.ex1, b.fs, b.table)
		for _, l := range b.lines {
			var sb strings.Builder
			for _, f := range l {
				for _, g := range f.gs {
					sb.WriteRune(g.r)
				}
				sb.WriteString(fmt.Sprintf("[%.1f/%.2f] ", f.base, f.em))
			}
			fmt.Printf("    %.200s\n", sb.String())
		}
	}
}
