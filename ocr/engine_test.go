package ocr

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/folio-ocr/folio/internal/textmetric"
	"github.com/folio-ocr/folio/pipeline"
)

// TestMain caps OpenMP before any engine starts. libgomp reads
// OMP_THREAD_LIMIT in its load-time constructor, before Go's main runs, so
// os.Setenv alone has no effect (measured: BenchmarkRecognize 0.81 s/op
// instead of 0.12 s/op on 2 cores). When the variable is missing the test
// binary therefore re-executes itself with it set; .ci/run exports it before
// the process starts, which is the normal way.
func TestMain(m *testing.M) {
	if os.Getenv("OMP_THREAD_LIMIT") != "1" {
		os.Setenv("OMP_THREAD_LIMIT", "1")
		if exe, err := os.Executable(); err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
			fmt.Fprintf(os.Stderr, "ocr: re-exec with OMP_THREAD_LIMIT=1 failed (%v); OCR will be slow\n", err)
		}
	}
	os.Exit(m.Run())
}

// paragraphs are drawn with a wide gap between them.
var paragraphs = [][]string{
	{
		"The quick brown fox jumps over the lazy dog.",
		"Pack my box with five dozen liquor jugs.",
		"Sphinx of black quartz, judge my vow.",
	},
	{
		"How vexingly quick daft zebras jump!",
		"Folio reads scanned pages 1234567890.",
	},
}

const dpi = 300

// renderPage draws paras black on white in Go Regular at 48 px (about
// 11.5 pt at 300 dpi).
func renderPage(t testing.TB, paras [][]string) *image.Gray {
	t.Helper()
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		t.Fatal(err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: 48, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		t.Fatal(err)
	}
	defer face.Close()
	const margin, lineH, paraGap = 100, 70, 90
	n := 0
	for _, p := range paras {
		n += len(p)
	}
	img := image.NewGray(image.Rect(0, 0, 1600, 2*margin+n*lineH+len(paras)*paraGap))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: face}
	y := margin
	for _, p := range paras {
		for _, line := range p {
			y += lineH
			d.Dot = fixed.P(margin, y)
			d.DrawString(line)
		}
		y += paraGap
	}
	return img
}

// toImage copies img into an Image closed when the test ends.
func toImage(t testing.TB, img *image.Gray) *Image {
	t.Helper()
	im, err := FromGray(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(im.Close)
	return im
}

func newEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New("eng", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// respell rebuilds the text from symbols and breaks, and returns the break
// types of the last symbol of every word in order.
func respell(ta *visionpb.TextAnnotation) (string, []visionpb.TextAnnotation_DetectedBreak_BreakType) {
	var sb strings.Builder
	var brks []visionpb.TextAnnotation_DetectedBreak_BreakType
	for _, p := range ta.GetPages() {
		for _, b := range p.GetBlocks() {
			for _, pa := range b.GetParagraphs() {
				for _, w := range pa.GetWords() {
					for _, s := range w.GetSymbols() {
						sb.WriteString(s.GetText())
						sb.WriteString(pipeline.BreakText(s.GetProperty().GetDetectedBreak().GetType()))
					}
					brks = append(brks, w.GetSymbols()[len(w.GetSymbols())-1].GetProperty().GetDetectedBreak().GetType())
				}
			}
		}
	}
	return sb.String(), brks
}

func checkBox(t *testing.T, what string, bp *visionpb.BoundingPoly) {
	t.Helper()
	if bp == nil || len(bp.GetNormalizedVertices()) != 4 {
		t.Errorf("%s: box %v, want 4 normalized vertices", what, bp)
		return
	}
	if len(bp.GetVertices()) != 0 {
		t.Errorf("%s: pixel vertices set", what)
	}
	for _, v := range bp.GetNormalizedVertices() {
		if !(v.X >= 0 && v.X <= 1 && v.Y >= 0 && v.Y <= 1) {
			t.Errorf("%s: vertex %v outside [0,1]", what, v)
		}
	}
	vs := bp.GetNormalizedVertices()
	if vs[0].X > vs[1].X || vs[0].Y > vs[3].Y {
		t.Errorf("%s: vertices not TL, TR, BR, BL: %v", what, vs)
	}
}

func checkConf(t *testing.T, what string, c float32) {
	t.Helper()
	if !(c >= 0 && c <= 1) {
		t.Errorf("%s: confidence %v outside [0,1]", what, c)
	}
}

func TestRecognize(t *testing.T) {
	img := renderPage(t, paragraphs)
	e := newEngine(t)
	ta, err := e.Recognize(context.Background(), toImage(t, img), Options{DPI: dpi})
	if err != nil {
		t.Fatal(err)
	}
	if len(ta.Pages) != 1 {
		t.Fatalf("%d pages, want 1", len(ta.Pages))
	}
	page := ta.Pages[0]
	if int(page.Width) != img.Rect.Dx() || int(page.Height) != img.Rect.Dy() {
		t.Errorf("page %dx%d, want %v", page.Width, page.Height, img.Rect.Size())
	}
	checkConf(t, "page", page.Confidence)

	// Text: every drawn line, in order, one per text line.
	var wantLines []string
	for _, p := range paragraphs {
		wantLines = append(wantLines, p...)
	}
	want := strings.Join(wantLines, "\n") + "\n"
	if cer := textmetric.CER(textmetric.Normalize(want), textmetric.Normalize(ta.Text)); cer > 0.03 {
		t.Errorf("CER %.3f > 0.03\n got: %q\nwant: %q", cer, ta.Text, want)
	}
	gotLines := strings.Split(strings.TrimSuffix(ta.Text, "\n"), "\n")
	if len(gotLines) != len(wantLines) {
		t.Errorf("%d lines, want %d: %q", len(gotLines), len(wantLines), ta.Text)
	} else {
		for i := range wantLines {
			if cer := textmetric.CER(wantLines[i], gotLines[i]); cer > 0.05 {
				t.Errorf("line %d: %q, want %q (CER %.3f)", i, gotLines[i], wantLines[i], cer)
			}
		}
	}

	// text == what symbols and breaks spell.
	spelled, brks := respell(ta)
	if spelled != ta.Text {
		t.Errorf("text %q != spelled %q", ta.Text, spelled)
	}

	// Breaks: one per word; newline-spelling breaks exactly at line ends,
	// LINE_BREAK at least at the end of each drawn paragraph and last.
	var nl, lb int
	for i, b := range brks {
		switch b {
		case visionpb.TextAnnotation_DetectedBreak_SPACE:
		case visionpb.TextAnnotation_DetectedBreak_EOL_SURE_SPACE:
			nl++
		case visionpb.TextAnnotation_DetectedBreak_LINE_BREAK:
			nl++
			lb++
		default:
			t.Errorf("word %d: break %v", i, b)
		}
	}
	if nl != len(wantLines) {
		t.Errorf("%d line-end breaks, want %d", nl, len(wantLines))
	}
	if lb < len(paragraphs) {
		t.Errorf("%d LINE_BREAKs, want at least %d (one per paragraph)", lb, len(paragraphs))
	}
	if len(brks) == 0 || brks[len(brks)-1] != visionpb.TextAnnotation_DetectedBreak_LINE_BREAK {
		t.Errorf("last word's break is not LINE_BREAK")
	}

	// Structure, boxes and confidences.
	nWords := 0
	for bi, b := range page.Blocks {
		if b.BlockType != visionpb.Block_TEXT {
			t.Errorf("block %d: type %v", bi, b.BlockType)
		}
		checkBox(t, fmt.Sprintf("block %d", bi), b.BoundingBox)
		checkConf(t, fmt.Sprintf("block %d", bi), b.Confidence)
		if len(b.Paragraphs) == 0 {
			t.Errorf("block %d empty", bi)
		}
		for pi, p := range b.Paragraphs {
			checkBox(t, fmt.Sprintf("para %d.%d", bi, pi), p.BoundingBox)
			checkConf(t, fmt.Sprintf("para %d.%d", bi, pi), p.Confidence)
			if len(p.Words) == 0 {
				t.Errorf("para %d.%d empty", bi, pi)
			}
			for wi, w := range p.Words {
				nWords++
				what := fmt.Sprintf("word %d.%d.%d", bi, pi, wi)
				checkBox(t, what, w.BoundingBox)
				checkConf(t, what, w.Confidence)
				if len(w.Symbols) == 0 {
					t.Errorf("%s empty", what)
				}
				for si, s := range w.Symbols {
					checkConf(t, fmt.Sprintf("%s symbol %d", what, si), s.Confidence)
					if s.Text == "" {
						t.Errorf("%s symbol %d: empty text", what, si)
					}
					if brk := s.GetProperty().GetDetectedBreak(); brk != nil && si != len(w.Symbols)-1 {
						t.Errorf("%s symbol %d: break %v inside a word", what, si, brk.Type)
					}
				}
			}
		}
	}
	if wantWords := len(strings.Fields(want)); nWords != wantWords {
		t.Errorf("%d words, want %d", nWords, wantWords)
	}
	// The first word's box sits near the top-left margin.
	w0 := page.Blocks[0].Paragraphs[0].Words[0].BoundingBox.NormalizedVertices[0]
	if x := w0.X * float32(page.Width); x < 90 || x > 115 {
		t.Errorf("first word left edge at %.0f px, want about 100", x)
	}

	// The engine is reusable: a second page gives the same result.
	ta2, err := e.Recognize(context.Background(), toImage(t, img), Options{DPI: dpi})
	if err != nil {
		t.Fatal(err)
	}
	if ta2.Text != ta.Text {
		t.Errorf("second run text %q != first %q", ta2.Text, ta.Text)
	}
}

func TestRecognizeSubImage(t *testing.T) {
	img := renderPage(t, paragraphs[:1])
	// A view with a non-zero origin: only the second line.
	sub := img.SubImage(image.Rect(0, 170+5, img.Rect.Dx(), 170+70+5)).(*image.Gray)
	e := newEngine(t)
	ta, err := e.Recognize(context.Background(), toImage(t, sub), Options{DPI: dpi})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := textmetric.Normalize(ta.Text), paragraphs[0][1]; textmetric.CER(want, got) > 0.05 {
		t.Errorf("sub-image text %q, want %q", got, want)
	}
	if ta.Pages[0].Height != int32(sub.Rect.Dy()) {
		t.Errorf("page height %d, want %d", ta.Pages[0].Height, sub.Rect.Dy())
	}
}

func TestRecognizeBlank(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 850, 1100))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	e := newEngine(t)
	ta, err := e.Recognize(context.Background(), toImage(t, img), Options{DPI: 100})
	if err != nil {
		t.Fatal(err)
	}
	if ta.Text != "" || len(ta.Pages) != 1 || len(ta.Pages[0].Blocks) != 0 {
		t.Errorf("blank page: text %q, %d pages, blocks %v", ta.Text, len(ta.Pages), ta.Pages[0].Blocks)
	}
	if ta.Pages[0].Width != 850 || ta.Pages[0].Height != 1100 {
		t.Errorf("page %dx%d", ta.Pages[0].Width, ta.Pages[0].Height)
	}
}

func TestRecognizeCancelled(t *testing.T) {
	e := newEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := image.NewGray(image.Rect(0, 0, 10, 10))
	if _, err := e.Recognize(ctx, toImage(t, img), Options{DPI: dpi}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err %v, want context.Canceled", err)
	}
}

func TestRecognizeCancelDuring(t *testing.T) {
	img := renderPage(t, [][]string{paragraphs[0], paragraphs[1], paragraphs[0], paragraphs[1], paragraphs[0]})
	e := newEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.Recognize(ctx, toImage(t, img), Options{DPI: dpi})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want context.DeadlineExceeded", err)
	}
	t.Logf("returned %v after start", time.Since(start))
	// The engine still works afterwards.
	ta, err := e.Recognize(context.Background(), toImage(t, renderPage(t, paragraphs[1:])), Options{DPI: dpi})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ta.Text, "zebras") {
		t.Errorf("after cancel: text %q", ta.Text)
	}
}

func TestRecognizeErrors(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	if _, err := e.Recognize(ctx, nil, Options{}); err == nil {
		t.Error("nil image: no error")
	}
	closed := toImage(t, image.NewGray(image.Rect(0, 0, 5, 5)))
	closed.Close()
	if _, err := e.Recognize(ctx, closed, Options{}); err == nil {
		t.Error("closed image: no error")
	}
	small := toImage(t, image.NewGray(image.Rect(0, 0, 5, 5)))
	if _, err := e.Recognize(ctx, small, Options{DPI: -1}); err == nil {
		t.Error("dpi -1: no error")
	}
	if _, err := New("no_such_language", ""); err == nil {
		t.Error("New with a missing model: no error")
	}
	e.Close()
	e.Close()
	if _, err := e.Recognize(ctx, small, Options{}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: err %v, want ErrClosed", err)
	}
}

func BenchmarkRecognize(b *testing.B) {
	img := toImage(b, renderPage(b, paragraphs))
	e := newEngine(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Recognize(ctx, img, Options{DPI: dpi}); err != nil {
			b.Fatal(err)
		}
	}
}
