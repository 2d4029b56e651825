package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const turnedSet = "turned scans"

// Names of the turned-scan rows.
const (
	folioUprightName    = "**Folio end to end**, G4 upright"
	folioTurnedName     = "**Folio end to end**, G4 turned"
	tesseractTurnedName = "tesseract CLI, one process per core, stored turned images"
	ocrmypdfTurnedName  = "ocrmypdf --rotate-pages --jobs N"
)

// turnedMaxSlowdown is the target of the turned set: a turned page costs
// at most this many times an upright one.
const turnedMaxSlowdown = 1.2

// turnedTools are the commands needed to build the turned set from the
// scanned corpus (pdfimages, of poppler-utils, checks its encoding).
var turnedTools = []string{"convert", "tiffcp", "tiff2pdf", "qpdf", "pdfimages"}

// g4Set is the turned-scan set built from a scanned corpus: its page JPEGs
// thresholded to bilevel CCITT G4 at 300 DPI, as one upright PDF and one
// whose pages are stored turned under a /Rotate that shows them upright,
// the way real scans often come. It lives in the corpus directory, so it is
// rebuilt with the corpus.
type g4Set struct {
	upright string   // g4-upright.pdf, every page /Rotate 0
	turned  string   // g4-turned.pdf, the same pixels stored turned
	images  []string // the page TIFFs of g4-turned.pdf, as stored, in page order
	// sideways counts the first pages, stored turned 90° clockwise under
	// /Rotate 270; the rest are stored upside down under /Rotate 180.
	sideways int
	dir      string // g4/, the page TIFFs
	pages    int
}

// newG4Set describes the turned set of corpus c: half its pages (rounded
// up) sideways, the rest upside down.
func newG4Set(c *corpus) *g4Set {
	n := c.pages()
	g := &g4Set{
		upright: filepath.Join(c.dir, "g4-upright.pdf"), turned: filepath.Join(c.dir, "g4-turned.pdf"),
		dir: filepath.Join(c.dir, "g4"), sideways: (n + 1) / 2, pages: n,
	}
	for p := c.first; p <= c.last; p++ {
		g.images = append(g.images, filepath.Join(g.dir, fmt.Sprintf("p%03d-turned.tif", p)))
	}
	return g
}

// complete reports whether every file of the set is there.
func (g *g4Set) complete() bool {
	for _, f := range append([]string{g.upright, g.turned}, g.images...) {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}

// load reuses the set if complete and builds it otherwise: in a temporary
// sibling of the corpus directory's files, moved into place last, the
// turned PDF last of all.
func (g *g4Set) load(ctx context.Context, c *corpus, cores int) error {
	if g.complete() {
		return nil
	}
	logf("building the turned scans in %s", c.dir)
	tmp, err := os.MkdirTemp(c.dir, "g4.tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	ups := make([]string, g.pages)
	turned := make([]string, g.pages)
	err = forEach(ctx, g.pages, cores, func(i int) error {
		base := strings.TrimSuffix(filepath.Base(g.images[i]), "-turned.tif")
		ups[i] = filepath.Join(tmp, base+"-upright.tif")
		turned[i] = filepath.Join(tmp, filepath.Base(g.images[i]))
		if _, err := runTool(ctx, nil, "convert", g4Args(c.images[i], ups[i], "-threshold", "50%", "-type", "bilevel")...); err != nil {
			return err
		}
		// convert turns clockwise: a page shown with /Rotate 270 (270°
		// clockwise) is stored turned 90° clockwise.
		turn := "180"
		if i < g.sideways {
			turn = "90"
		}
		_, err := runTool(ctx, nil, "convert", g4Args(ups[i], turned[i], "-rotate", turn)...)
		return err
	})
	if err != nil {
		return err
	}
	upPDF, rawPDF, turnedPDF := filepath.Join(tmp, "g4-upright.pdf"), filepath.Join(tmp, "raw.pdf"), filepath.Join(tmp, "g4-turned.pdf")
	if err := g4PDF(ctx, ups, filepath.Join(tmp, "upright.tif"), upPDF); err != nil {
		return err
	}
	if err := g4PDF(ctx, turned, filepath.Join(tmp, "turned.tif"), rawPDF); err != nil {
		return err
	}
	if _, err := runTool(ctx, nil, "qpdf", g.rotateArgs(rawPDF, turnedPDF)...); err != nil {
		return err
	}
	for _, f := range []string{g.turned, g.upright, g.dir} {
		if err := os.RemoveAll(f); err != nil {
			return err
		}
	}
	if err := os.Mkdir(g.dir, 0o755); err != nil {
		return err
	}
	for i := range g.pages {
		for _, f := range []string{ups[i], turned[i]} {
			if err := os.Rename(f, filepath.Join(g.dir, filepath.Base(f))); err != nil {
				return err
			}
		}
	}
	if err := os.Rename(upPDF, g.upright); err != nil {
		return err
	}
	return os.Rename(turnedPDF, g.turned)
}

// g4Args are convert's arguments writing in, changed by ops, as a one-strip
// 300 DPI CCITT G4 TIFF (one strip, so that tiff2pdf copies its data).
func g4Args(in, out string, ops ...string) []string {
	args := append([]string{in}, ops...)
	return append(args, "-compress", "Group4", "-define", "tiff:rows-per-strip=100000",
		"-units", "PixelsPerInch", "-density", "300", out)
}

// rotateArgs are qpdf's arguments setting /Rotate 270 on the sideways pages
// of in and /Rotate 180 on the rest (tiff2pdf writes none).
func (g *g4Set) rotateArgs(in, out string) []string {
	args := []string{in, fmt.Sprintf("--rotate=+270:1-%d", g.sideways)}
	if g.pages > g.sideways {
		args = append(args, fmt.Sprintf("--rotate=+180:%d-z", g.sideways+1))
	}
	return append(args, out)
}

// g4PDF joins the page TIFFs into tif with tiffcp and converts it to pdf
// with tiff2pdf, then checks that every page image kept its CCITT data
// (/CCITTFaxDecode), as a scanner's PDF has it.
func g4PDF(ctx context.Context, pages []string, tif, pdf string) error {
	if _, err := runTool(ctx, nil, "tiffcp", append(append([]string(nil), pages...), tif)...); err != nil {
		return err
	}
	if _, err := runTool(ctx, nil, "tiff2pdf", "-o", pdf, tif); err != nil {
		return err
	}
	out, err := runTool(ctx, nil, "pdfimages", "-list", pdf)
	if err != nil {
		return err
	}
	encs, err := imageEncodings(string(out))
	if err != nil {
		return fmt.Errorf("pdfimages -list %s: %w", pdf, err)
	}
	if len(encs) != len(pages) {
		return fmt.Errorf("%s has %d images, want %d", pdf, len(encs), len(pages))
	}
	for i, e := range encs {
		if e != "ccitt" {
			return fmt.Errorf("%s: image %d is encoded %s, want ccitt (tiff2pdf re-encoded it)", pdf, i+1, e)
		}
	}
	return nil
}

// imageEncodings reads the enc column of pdfimages -list.
func imageEncodings(list string) ([]string, error) {
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) < 2 {
		return nil, fmt.Errorf("no header in %q", list)
	}
	col := -1
	for i, f := range strings.Fields(lines[0]) {
		if f == "enc" {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("no enc column in %q", lines[0])
	}
	var encs []string
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) <= col {
			return nil, fmt.Errorf("short line %q", l)
		}
		encs = append(encs, f[col])
	}
	return encs, nil
}

// turnedRows builds (or reuses) the turned set from the scanned corpus and
// measures Folio end to end on its upright and its turned PDF, the
// tesseract CLI on the turned PDF's stored page images and OCRmyPDF with
// --rotate-pages on the turned PDF, each with its CER against the scanned
// set's ground truth. It also returns a line describing the set.
func turnedRows(ctx context.Context, cfg config, dep *lazyDeployment) ([]*row, string) {
	ocrName := strings.Replace(ocrmypdfTurnedName, "N", strconv.Itoa(cfg.cores), 1)
	names := []string{folioUprightName, folioTurnedName, tesseractTurnedName, ocrName}
	all := func(problem func(name string) *row) []*row {
		var rows []*row
		for _, n := range names {
			rows = append(rows, problem(n))
		}
		return rows
	}
	if pkg := missingTool(append(append([]string(nil), corpusTools...), turnedTools...)...); pkg != "" {
		return all(func(name string) *row {
			return skippedRow(turnedSet, "", name, "skipped (install "+pkg+" to build the set)")
		}), ""
	}
	c := newCorpus(cfg.corpusDir, cfg.scanSrc, cfg.scanFirst, cfg.scanPages)
	err := c.load(ctx, cfg.cores)
	g := newG4Set(c)
	if err == nil {
		err = g.load(ctx, c, cfg.cores)
	}
	if err != nil {
		return all(func(name string) *row { return problemRow(turnedSet, "", name, err) }), ""
	}
	fact := fmt.Sprintf("turned scans: the scanned set's page JPEGs thresholded at 50%% to 1 bit, CCITT G4 at 300 DPI "+
		"(tiff2pdf, data kept as /CCITTFaxDecode), as `%s` (%s, /Rotate 0) and `%s` (%s, the same pixels, %s); "+
		"CER against the scanned set's ground truth; %s per row",
		filepath.Base(g.upright), fileMB(g.upright), filepath.Base(g.turned), fileMB(g.turned), g.layout(), runsText(cfg.scanRuns))

	var rows []*row
	if d, err := dep.get(ctx); err != nil {
		rows = append(rows, problemRow(turnedSet, "upright", folioUprightName, err), problemRow(turnedSet, "", folioTurnedName, err))
	} else {
		rows = append(rows, folioPDFRow(ctx, d, cfg, turnedSet, "upright", folioUprightName, g.upright, c.truth))
		r := folioPDFRow(ctx, d, cfg, turnedSet, "", folioTurnedName, g.turned, c.truth)
		r.targets = []target{{ref: "upright", label: "upright", min: 1 / turnedMaxSlowdown}}
		r.note += fmt.Sprintf("; target: wall ≤ %g× upright's", turnedMaxSlowdown)
		rows = append(rows, r)
	}
	rows = append(rows,
		tesseractRow(ctx, cfg, turnedSet, tesseractTurnedName, g.images, c.truth, "the G4 TIFFs as stored, turned, no OSD"),
		ocrmypdfRow(ctx, cfg, turnedSet, ocrName, g.turned, c.truth, "--rotate-pages"))
	return rows, fact
}

// layout says which pages are stored how.
func (g *g4Set) layout() string {
	s := fmt.Sprintf("%s stored turned 90° clockwise under /Rotate 270", pageRange(1, g.sideways))
	if g.pages > g.sideways {
		s += fmt.Sprintf(", %s upside down under /Rotate 180", pageRange(g.sideways+1, g.pages))
	}
	return s
}

// pageRange is "page 3" or "pages 1–3".
func pageRange(first, last int) string {
	if first == last {
		return fmt.Sprintf("page %d", first)
	}
	return fmt.Sprintf("pages %d–%d", first, last)
}

// fileMB is the size of the file at path in MB, "? MB" if unknown.
func fileMB(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "? MB"
	}
	return fmt.Sprintf("%.2f MB", float64(st.Size())/1e6)
}
