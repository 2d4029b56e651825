package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
)

func TestSkewAngleMatchesMakeCorpus(t *testing.T) {
	// Values of make-corpus.sh's awk expression for the same i.
	for i, want := range map[int]string{1: "-0.82", 2: "0.64", 3: "-0.46", 10: "0.40"} {
		if got := skewAngle(i); got != want {
			t.Errorf("skewAngle(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestSplitSidecar(t *testing.T) {
	got, err := splitSidecar("one\n\ftwo\n\fthree\n\f", 3)
	if err != nil || len(got) != 3 || got[1] != "two\n" {
		t.Fatalf("splitSidecar = %q, %v", got, err)
	}
	if _, err := splitSidecar("one\ftwo", 3); err == nil {
		t.Error("splitSidecar with too few pages: no error")
	}
}

func page(n int32, text string, code int32) *visionpb.AnnotateImageResponse {
	r := &visionpb.AnnotateImageResponse{
		Context:            &visionpb.ImageAnnotationContext{PageNumber: n},
		FullTextAnnotation: &visionpb.TextAnnotation{Text: text},
	}
	if code != 0 {
		r.Error = &statuspb.Status{Code: code, Message: "page has no text layer"}
	}
	return r
}

func TestFolioCERLeavesFailedPagesOut(t *testing.T) {
	truth := []string{"hello  world\n", "abcd", "xyz"}
	resps := []*visionpb.AnnotateImageResponse{page(1, "hello world", 0), page(2, "abXd", 0), page(3, "", 12)}
	cer := folioCER(truth, resps)
	if cer.pages != 2 || cer.chars != 15 || cer.dist != 1 {
		t.Errorf("cer = %+v, want 2 pages, 15 chars, distance 1", *cer)
	}
	n, first := pageFailures(resps)
	if n != 1 || !strings.HasPrefix(first, "code 12: ") {
		t.Errorf("pageFailures = %d, %q", n, first)
	}
}

func TestTargetCell(t *testing.T) {
	ref := &row{id: "ref", pages: 10, took: 10 * time.Second}
	byID := map[string]*row{refKey("", "ref"): ref, refKey("other", "none"): ref}
	r := &row{pages: 10, took: 5 * time.Second, targets: []target{
		{ref: "ref", label: "tesseract", min: 0.9},
		{ref: "ref", label: "ocrmypdf", min: 2, strict: true},
		{ref: "none", label: "pdftotext", min: 0.5},
	}}
	want := "2.00× tesseract (≥0.9 ✓); 2.00× ocrmypdf (>2 ✗); pdftotext not measured"
	if got := r.targetCell(byID); got != want {
		t.Errorf("targetCell = %q, want %q", got, want)
	}
	r.failed = 10
	if got := r.targetCell(byID); !strings.Contains(got, "failed") {
		t.Errorf("targetCell with failed pages = %q", got)
	}
}

func TestRenderTable(t *testing.T) {
	rows := []*row{
		{set: "scanned", name: "folio", pages: 3, took: 3 * time.Second, failed: 3, failure: "code 12: a|b",
			cer: &cerStats{}},
		{set: "scanned", id: "tesseract", name: "tesseract", pages: 3, took: 2 * time.Second,
			cer: &cerStats{dist: 1, chars: 200, pages: 3}, rss: "70 MiB"},
		skippedRow("scanned", "ocrmypdf", "ocrmypdf", "skipped (install ocrmypdf)"),
	}
	var b strings.Builder
	if err := renderTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), out)
	}
	for _, want := range []string{"3/3 pages failed", `a\|b`, "0.50%", "1.50", "skipped (install ocrmypdf)", "70 MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	width := len([]rune(lines[0]))
	for _, l := range lines {
		if len([]rune(l)) != width {
			t.Errorf("ragged table:\n%s", out)
			break
		}
	}
}

func TestScanBatch(t *testing.T) {
	for _, c := range []struct{ pages, cores, flag, want int }{
		{10, 2, 0, 5}, {3, 2, 0, 2}, {1, 4, 0, 1}, {500, 2, 0, 100}, {10, 2, 20, 20},
	} {
		if got := scanBatch(config{scanPages: c.pages, cores: c.cores, scanBatch: c.flag}); got != c.want {
			t.Errorf("scanBatch(%d pages, %d cores, -scan-batch %d) = %d, want %d", c.pages, c.cores, c.flag, got, c.want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"-scan-pages", "3", "-pdf", "my file.pdf"})
	if want := `go run ./bench -scan-pages 3 -pdf "my file.pdf"`; got != want {
		t.Errorf("commandLine = %s, want %s", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-scan-pages", "3", "-born=false"}, "/m")
	if err != nil || cfg.scanPages != 3 || cfg.born || !cfg.scanned || cfg.corpusDir != "/m/data/bench-corpus" {
		t.Errorf("parseFlags = %+v, %v", cfg, err)
	}
	if _, err := parseFlags([]string{"-born=false", "-scanned=false"}, "/m"); err == nil {
		t.Error("nothing selected: no error")
	}
	if _, err := parseFlags([]string{"-cores", "0"}, "/m"); err == nil {
		t.Error("-cores 0: no error")
	}
}

func TestForEach(t *testing.T) {
	var n atomic.Int64
	if err := forEach(context.Background(), 20, 3, func(i int) error { n.Add(int64(i)); return nil }); err != nil || n.Load() != 190 {
		t.Errorf("forEach: sum %d, %v", n.Load(), err)
	}
	boom := errors.New("boom")
	var calls atomic.Int64
	err := forEach(context.Background(), 1000, 2, func(i int) error { calls.Add(1); return boom })
	if !errors.Is(err, boom) || calls.Load() > 10 {
		t.Errorf("forEach after an error: %v, %d calls", err, calls.Load())
	}
}

func TestPGMSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.pgm")
	if err := os.WriteFile(p, []byte("P5\n2550 3300\n255\n\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w, h, err := pgmSize(p); err != nil || w != 2550 || h != 3300 {
		t.Errorf("pgmSize = %d, %d, %v", w, h, err)
	}
}

func TestMeasuredTakesTheMedian(t *testing.T) {
	times := []time.Duration{3 * time.Second, time.Second, 2 * time.Second}
	i := 0
	r := measured("s", "id", "name", 3, func() (*row, error) {
		i++
		return &row{pages: 1, took: times[i-1]}, nil
	})
	if r.took != 2*time.Second || r.id != "id" || r.set != "s" {
		t.Errorf("measured = %+v", r)
	}
	r = measured("s", "id", "name", 3, func() (*row, error) { return nil, errors.New("broken\nmore") })
	if r.problem != "error: broken" {
		t.Errorf("measured with an error: problem %q", r.problem)
	}
}

func TestWorkerEnvFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"-worker-env", "PAGE_TIMEOUT=2m", "-worker-env", "A=b=c"}, "/m")
	if err != nil || len(cfg.workerEnv) != 2 || cfg.workerEnv[1] != "A=b=c" {
		t.Fatalf("parseFlags = %q, %v", cfg.workerEnv, err)
	}
	if !strings.HasSuffix(workerNote(cfg, 5), "worker env PAGE_TIMEOUT=2m A=b=c") {
		t.Errorf("workerNote = %q", workerNote(cfg, 5))
	}
	if _, err := parseFlags([]string{"-worker-env", "novalue"}, "/m"); err == nil {
		t.Error("-worker-env without =: no error")
	}
}

func TestMemoryFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"-born=false", "-scanned=false", "-memory", "10, 2000"}, "/m")
	if err != nil || !slices.Equal(cfg.memory, []int{10, 2000}) || cfg.memoryBatch != 100 {
		t.Errorf("-memory 10,2000: %v, %v (batch %d)", cfg.memory, err, cfg.memoryBatch)
	}
	for _, bad := range [][]string{{"-memory", "0"}, {"-memory", "ten"}, {"-memory", "10", "-memory-batch", "101"}} {
		if _, err := parseFlags(bad, "/m"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for ns, want := range map[string]string{"10": "10", "10,2000": "10 and 2000", "10,100,2000": "10, 100 and 2000"} {
		cfg, _ := parseFlags([]string{"-memory", ns}, "/m")
		if got := joinInts(cfg.memory); got != want {
			t.Errorf("joinInts(%s) = %q, want %q", ns, got, want)
		}
	}
}

func TestTargetCellTurned(t *testing.T) {
	upright := &row{id: "upright", pages: 6, took: 10 * time.Second}
	byID := map[string]*row{refKey(turnedSet, "upright"): upright}
	r := &row{set: turnedSet, pages: 6, took: 10300 * time.Millisecond,
		targets: []target{{ref: "upright", label: "upright", min: 1 / turnedMaxSlowdown}}}
	if got, want := r.targetCell(byID), "0.97× upright (≥0.83 ✓)"; got != want {
		t.Errorf("targetCell = %q, want %q", got, want)
	}
	r.took = 12500 * time.Millisecond
	if got, want := r.targetCell(byID), "0.80× upright (≥0.83 ✗)"; got != want {
		t.Errorf("targetCell = %q, want %q", got, want)
	}
	for v, want := range map[float64]string{1: "1", 0.9: "0.9", 0.5: "0.5", 1.25: "1.25", 1 / 1.2: "0.83"} {
		if got := ratioText(v); got != want {
			t.Errorf("ratioText(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestG4SetLayout(t *testing.T) {
	c := newCorpus("/cache", "/src/R-intro.pdf", 10, 5)
	g := newG4Set(c)
	if g.sideways != 3 || len(g.images) != 5 || g.images[0] != "/cache/R-intro-p010-014/g4/p010-turned.tif" {
		t.Fatalf("g4Set = %+v", *g)
	}
	if got, want := strings.Join(g.rotateArgs("in.pdf", "out.pdf"), " "), "in.pdf --rotate=+270:1-3 --rotate=+180:4-z out.pdf"; got != want {
		t.Errorf("rotateArgs = %q, want %q", got, want)
	}
	if got, want := g.layout(), "pages 1–3 stored turned 90° clockwise under /Rotate 270, pages 4–5 upside down under /Rotate 180"; got != want {
		t.Errorf("layout = %q, want %q", got, want)
	}
	one := newG4Set(newCorpus("/cache", "/src/R-intro.pdf", 10, 1))
	if got, want := strings.Join(one.rotateArgs("in.pdf", "out.pdf"), " "), "in.pdf --rotate=+270:1-1 out.pdf"; got != want {
		t.Errorf("rotateArgs of one page = %q, want %q", got, want)
	}
}

func TestImageEncodings(t *testing.T) {
	list := `page   num  type   width height color comp bpc  enc interp  object ID x-ppi y-ppi size ratio
--------------------------------------------------------------------------------------------
   1     0 image    2550  3300  gray    1   1  ccitt  no         7  0   300   300 47.3K 4.6%
   2     1 image    3300  2550  gray    1   1  image  no        12  0   300   300 51.0K 5.0%
`
	got, err := imageEncodings(list)
	if err != nil || strings.Join(got, " ") != "ccitt image" {
		t.Errorf("imageEncodings = %q, %v", got, err)
	}
}

func TestOperationTook(t *testing.T) {
	start := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	seen := start.Add(2 * time.Second)
	tests := []struct {
		name string
		end  time.Time
		want time.Duration
	}{
		{"end between submit and poll", start.Add(1500 * time.Millisecond), 1500 * time.Millisecond},
		{"no updateTime", time.Time{}, 2 * time.Second},
		{"end after the poll saw it", seen.Add(time.Second), 2 * time.Second},
		{"end before submit", start.Add(-time.Second), 2 * time.Second},
	}
	for _, tt := range tests {
		if got := operationTook(start, tt.end, seen); got != tt.want {
			t.Errorf("%s: operationTook = %v, want %v", tt.name, got, tt.want)
		}
	}
}
