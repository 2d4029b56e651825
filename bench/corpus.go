package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/folio-ocr/folio/internal/textmetric"
)

// corpus is the scanned-page set, built as the research corpus is
// (/work/shared/research/make-corpus.sh): pages first..last of a
// born-digital PDF rendered at 300 DPI gray, degraded like a scanner
// (skew, noise, blur, JPEG q80) and joined into one image-only PDF, with
// the source's text layer as ground truth.
type corpus struct {
	src         string   // the born-digital source PDF
	first, last int      // its pages, 1-based, inclusive
	dir         string   // cache directory holding everything below
	pdf         string   // scanned.pdf, one JPEG per page
	images      []string // the page JPEGs, in page order
	truth       []string // pdftotext of each source page, in page order
}

// corpusTools are the commands needed to build a corpus.
var corpusTools = []string{"pdfinfo", "pdftoppm", "pdftotext", "convert", "img2pdf"}

// pages is the number of pages in the corpus.
func (c *corpus) pages() int { return c.last - c.first + 1 }

// truthChars counts the ground-truth characters after normalisation.
func (c *corpus) truthChars() int {
	n := 0
	for _, t := range c.truth {
		n += utf8.RuneCountInString(textmetric.Normalize(t))
	}
	return n
}

// newCorpus describes the corpus of n pages of src from page first, cached
// under cacheDir in a directory named after the source and the range.
func newCorpus(cacheDir, src string, first, n int) *corpus {
	last := first + n - 1
	name := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	dir := filepath.Join(cacheDir, fmt.Sprintf("%s-p%03d-%03d", name, first, last))
	c := &corpus{src: src, first: first, last: last, dir: dir, pdf: filepath.Join(dir, "scanned.pdf")}
	for p := first; p <= last; p++ {
		c.images = append(c.images, filepath.Join(dir, "scan", fmt.Sprintf("p%03d.jpg", p)))
	}
	return c
}

// stamp identifies the source a cached corpus was built from; a corpus is
// reused only when its stamp matches.
func (c *corpus) stamp() (string, error) {
	st, err := os.Stat(c.src)
	if err != nil {
		return "", fmt.Errorf("corpus source: %w", err)
	}
	return fmt.Sprintf("%s %d %d\n", c.src, st.Size(), st.ModTime().Unix()), nil
}

// load reuses the cached corpus if complete, builds it otherwise, and reads
// the ground truth.
func (c *corpus) load(ctx context.Context, cores int) error {
	want, err := c.stamp()
	if err != nil {
		return err
	}
	if got, err := os.ReadFile(filepath.Join(c.dir, "complete")); err != nil || string(got) != want {
		logf("building the scanned corpus in %s (pages %d-%d of %s)", c.dir, c.first, c.last, c.src)
		if err := c.build(ctx, cores, want); err != nil {
			return fmt.Errorf("build corpus: %w", err)
		}
	}
	c.truth = c.truth[:0]
	for p := c.first; p <= c.last; p++ {
		b, err := os.ReadFile(c.truthPath(c.dir, p))
		if err != nil {
			return fmt.Errorf("corpus ground truth: %w", err)
		}
		c.truth = append(c.truth, string(b))
	}
	return nil
}

func (c *corpus) truthPath(dir string, p int) string {
	return filepath.Join(dir, "gt", fmt.Sprintf("p%03d.txt", p))
}

// build makes the corpus in a temporary sibling directory and renames it
// into place, so an interrupted build never looks complete.
func (c *corpus) build(ctx context.Context, cores int, stamp string) error {
	if err := c.checkRange(ctx); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(c.dir), filepath.Base(c.dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	for _, sub := range []string{"gt", "scan"} {
		if err := os.Mkdir(filepath.Join(tmp, sub), 0o755); err != nil {
			return err
		}
	}
	var jpgs []string
	for p := c.first; p <= c.last; p++ {
		jpgs = append(jpgs, filepath.Join(tmp, "scan", fmt.Sprintf("p%03d.jpg", p)))
	}
	err = forEach(ctx, c.pages(), cores, func(i int) error {
		return c.buildPage(ctx, tmp, c.first+i, i+1, jpgs[i])
	})
	if err != nil {
		return err
	}
	args := append([]string{"--output", filepath.Join(tmp, "scanned.pdf")}, jpgs...)
	if _, err := runTool(ctx, nil, "img2pdf", args...); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), []byte(stamp), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return err
	}
	return os.Rename(tmp, c.dir)
}

// checkRange fails when the source has fewer pages than the range needs.
func (c *corpus) checkRange(ctx context.Context) error {
	out, err := runTool(ctx, nil, "pdfinfo", c.src)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Pages:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("pdfinfo %s: page count %q: %w", c.src, v, err)
			}
			if c.first < 1 || c.last > n {
				return fmt.Errorf("%s has %d pages; pages %d-%d asked for (see -scan-first, -scan-pages)", c.src, n, c.first, c.last)
			}
			return nil
		}
	}
	return fmt.Errorf("pdfinfo %s: no page count", c.src)
}

// buildPage writes the ground truth of source page p and its scanned-style
// JPEG: the i-th page of the corpus (1-based, which picks its skew and noise
// seed) rendered at 300 DPI gray, then degraded one page per convert call
// (Debian's ImageMagick policy cannot hold many 300 DPI pages at once).
func (c *corpus) buildPage(ctx context.Context, dir string, p, i int, jpg string) error {
	page := strconv.Itoa(p)
	if _, err := runTool(ctx, nil, "pdftotext", "-f", page, "-l", page, "-enc", "UTF-8", c.src, c.truthPath(dir, p)); err != nil {
		return err
	}
	base := strings.TrimSuffix(jpg, ".jpg")
	if _, err := runTool(ctx, nil, "pdftoppm", "-r", "300", "-gray", "-f", page, "-l", page, "-singlefile", c.src, base); err != nil {
		return err
	}
	pgm := base + ".pgm"
	defer os.Remove(pgm)
	w, h, err := pgmSize(pgm)
	if err != nil {
		return err
	}
	_, err = runTool(ctx, nil, "convert", degradeArgs(pgm, jpg, i, w, h)...)
	return err
}

// degradeArgs are convert's arguments turning a clean render of w×h pixels
// into the i-th scanned page, as make-corpus.sh does: a small alternating
// skew, Gaussian noise with a fixed seed, a slight blur and a level change,
// cut back to the page size, saved as a 300 DPI JPEG q80.
func degradeArgs(in, out string, i, w, h int) []string {
	return []string{in, "-seed", strconv.Itoa(i), "-background", "white", "-rotate", skewAngle(i),
		"-attenuate", "0.6", "+noise", "Gaussian", "-blur", "0x0.6", "-level", "8%,92%",
		"-gravity", "center", "-extent", fmt.Sprintf("%dx%d", w, h),
		"-units", "PixelsPerInch", "-density", "300", "-quality", "80", out}
}

// skewAngle is the rotation of the i-th page (1-based) in degrees:
// 0.4 to 1.0, negative for odd pages.
func skewAngle(i int) string {
	a := 0.4 + 0.6*float64((i*37)%10)/10
	if i%2 == 1 {
		a = -a
	}
	return strconv.FormatFloat(a, 'f', 2, 64)
}

// pgmSize reads the width and height from a binary PGM header.
func pgmSize(path string) (w, h int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var magic string
	if _, err := fmt.Fscan(bufio.NewReader(f), &magic, &w, &h); err != nil || magic != "P5" {
		return 0, 0, fmt.Errorf("%s: not a binary PGM (%q): %v", path, magic, err)
	}
	return w, h, nil
}
