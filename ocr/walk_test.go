package ocr

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/folio-ocr/folio/lang"
)

func TestUnturn(t *testing.T) {
	// A point of the original, turned by q quarter turns clockwise (as
	// pixRotateOrth and turnCW do), must come back to itself.
	turn := func(x, y float64, q int) (float64, float64) {
		for ; q > 0; q-- {
			x, y = 1-y, x
		}
		return x, y
	}
	for q := 0; q < 4; q++ {
		for _, p := range [][2]float64{{0, 0}, {0.2, 0.7}, {1, 0.25}, {0.5, 1}} {
			tx, ty := turn(p[0], p[1], q)
			x, y := frame{quads: q}.unturn(tx, ty)
			if math.Abs(x-p[0]) > 1e-9 || math.Abs(y-p[1]) > 1e-9 {
				t.Errorf("quads %d: %v -> (%v, %v) -> (%v, %v)", q, p, tx, ty, x, y)
			}
		}
	}
}

func TestQuadsFromDegrees(t *testing.T) {
	for deg, want := range map[int]int{0: 0, 90: 3, 180: 2, 270: 1, 360: 0} {
		if got := quadsFromDegrees(deg); got != want {
			t.Errorf("quadsFromDegrees(%d) = %d, want %d", deg, got, want)
		}
	}
}

func syms(texts ...string) []*visionpb.Symbol {
	var ss []*visionpb.Symbol
	for _, s := range texts {
		ss = append(ss, &visionpb.Symbol{Text: s})
	}
	return ss
}

func TestEndWord(t *testing.T) {
	const hyphen = visionpb.TextAnnotation_DetectedBreak_HYPHEN
	tests := []struct {
		name  string
		word  []string
		r     breakRank
		spell string
	}{
		{"space", []string{"a", "b"}, spaceBreak, "ab "},
		{"line end", []string{"a", "b"}, lineBreak, "ab\n"},
		{"split word", []string{"c", "o", "m", "-"}, lineBreak, "com-\n"},
		{"U+2010", []string{"é", "\u2010"}, lineBreak, "é-\n"},
		{"soft hyphen", []string{"x", "\u00ad"}, lineBreak, "x-\n"},
		{"hyphen at paragraph end", []string{"a", "-"}, paraBreak, "a-\n"},
		{"hyphen between words", []string{"a", "-"}, spaceBreak, "a- "},
		{"after a digit", []string{"1", "-"}, lineBreak, "1-\n"},
		{"lone hyphen", []string{"-"}, lineBreak, "-\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &visionpb.Word{Symbols: syms(tt.word...)}
			endWord(w, tt.r)
			ta := &visionpb.TextAnnotation{Pages: []*visionpb.Page{{Blocks: []*visionpb.Block{{Paragraphs: []*visionpb.Paragraph{{Words: []*visionpb.Word{w}}}}}}}}
			if got := spell(ta); got != tt.spell {
				t.Errorf("spells %q, want %q", got, tt.spell)
			}
			last := w.Symbols[len(w.Symbols)-1].GetProperty().GetDetectedBreak().GetType()
			if isH := last == hyphen; isH != (len(w.Symbols) < len(tt.word)) {
				t.Errorf("break %v with %d of %d symbols", last, len(w.Symbols), len(tt.word))
			}
		})
	}
}

func TestSetLanguages(t *testing.T) {
	en1 := &visionpb.Word{Symbols: syms("t", "h", "e")}
	num := &visionpb.Word{Symbols: syms("4", "2")}
	de := &visionpb.Word{Symbols: syms("u", "n", "d", "s", "o")}
	unk := &visionpb.Word{Symbols: syms("x")}
	page := &visionpb.Page{Blocks: []*visionpb.Block{{Paragraphs: []*visionpb.Paragraph{{Words: []*visionpb.Word{en1, num, de, unk}}}}}}
	setLanguages(page, map[*visionpb.Word]string{en1: "eng", num: "eng", de: "deu", unk: "equ"})
	detected := func(code string, conf float32) *visionpb.TextAnnotation_DetectedLanguage {
		return &visionpb.TextAnnotation_DetectedLanguage{LanguageCode: code, Confidence: conf}
	}
	want := []*visionpb.TextAnnotation_DetectedLanguage{detected("de", 5.0/11), detected("en", 3.0/11)}
	if diff := cmp.Diff(want, page.GetProperty().GetDetectedLanguages(), protocmp.Transform()); diff != "" {
		t.Errorf("page languages (-want +got):\n%s", diff)
	}
	for w, code := range map[*visionpb.Word]string{en1: "en", de: "de", num: "", unk: ""} {
		got := w.GetProperty().GetDetectedLanguages()
		if code == "" {
			if got != nil {
				t.Errorf("word %v: languages %v, want none", w.Symbols, got)
			}
			continue
		}
		if diff := cmp.Diff([]*visionpb.TextAnnotation_DetectedLanguage{detected(code, 1)}, got, protocmp.Transform()); diff != "" {
			t.Errorf("word languages (-want +got):\n%s", diff)
		}
	}
}

func TestLanguageTables(t *testing.T) {
	for m, want := range map[string]string{"eng": "en", "deu": "de", "chi_sim": "zh", "jpn_vert": "ja", "heb": "iw", "osd": "", "": ""} {
		if got := lang.Code(m); got != want {
			t.Errorf("lang.Code(%q) = %q, want %q", m, got, want)
		}
	}
	for s, want := range map[string]string{"Latin": "", "": "", "Han": "chi_sim", "Cyrillic": "rus", "Katakana": "jpn", "Hangul": "kor", "Fraktur": ""} {
		if got := scriptModel(s); got != want {
			t.Errorf("scriptModel(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestResolveDPI(t *testing.T) {
	tests := []struct {
		name       string
		w, h, xres int
		opt, want  int
	}{
		{"given", 2550, 3300, 200, 150, 150},
		{"from file", 2550, 3300, 300, 0, 300},
		{"unknown", 2550, 3300, 0, 0, 300},
		{"72 dpi label on a scan", 2550, 3300, 72, 0, 300},
		{"plausible 72 dpi", 600, 800, 72, 0, 72},
		{"absurd", 100, 100, 30000, 0, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveDPI(&Image{w: tt.w, h: tt.h, xres: tt.xres}, tt.opt)
			if err != nil || got != tt.want {
				t.Errorf("resolveDPI = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	if _, err := resolveDPI(&Image{w: 1, h: 1}, -5); err == nil {
		t.Error("negative dpi: no error")
	}
}

// hyphenated is a paragraph whose first line ends inside a word.
var hyphenated = [][]string{{
	"Folio keeps every promise and its commit-",
	"ment to careful work is well known.",
}}

func TestRecognizeHyphen(t *testing.T) {
	e := newEngine(t)
	ta, err := e.Recognize(context.Background(), toImage(t, renderPage(t, hyphenated)), Options{DPI: dpi})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ta.Text, "commit-\nment") {
		t.Errorf("text %q lacks the split word", ta.Text)
	}
	if spelled, _ := respell(ta); spelled != ta.Text {
		t.Errorf("text %q != spelled %q", ta.Text, spelled)
	}
	var found bool
	for _, w := range allWords(ta) {
		last := w.Symbols[len(w.Symbols)-1]
		if last.GetProperty().GetDetectedBreak().GetType() == visionpb.TextAnnotation_DetectedBreak_HYPHEN {
			found = true
			if got := wordText(w); got != "commit" {
				t.Errorf("HYPHEN word %q, want commit (hyphen not a symbol)", got)
			}
		}
	}
	if !found {
		t.Error("no HYPHEN break")
	}
}

func TestRecognizeLanguages(t *testing.T) {
	e := newEngine(t)
	ta, err := e.Recognize(context.Background(), toImage(t, renderPage(t, paragraphs)), Options{DPI: dpi})
	if err != nil {
		t.Fatal(err)
	}
	dl := ta.Pages[0].GetProperty().GetDetectedLanguages()
	if len(dl) != 1 || dl[0].LanguageCode != "en" || dl[0].Confidence < 0.9 || dl[0].Confidence > 1 {
		t.Errorf("page languages %v, want en with a share near 1", dl)
	}
	for _, w := range allWords(ta) {
		got := w.GetProperty().GetDetectedLanguages()
		if hasLetter(w) && (len(got) != 1 || got[0].LanguageCode != "en" || got[0].Confidence != 1) {
			t.Errorf("word %q: languages %v", wordText(w), got)
		}
		if !hasLetter(w) && got != nil {
			t.Errorf("word %q without letters has languages %v", wordText(w), got)
		}
	}
}

func allWords(ta *visionpb.TextAnnotation) []*visionpb.Word {
	var ws []*visionpb.Word
	for _, p := range ta.GetPages() {
		for _, b := range p.GetBlocks() {
			for _, pa := range b.GetParagraphs() {
				ws = append(ws, pa.GetWords()...)
			}
		}
	}
	return ws
}

func wordText(w *visionpb.Word) string {
	var sb strings.Builder
	for _, s := range w.Symbols {
		sb.WriteString(s.Text)
	}
	return sb.String()
}

// TestRecognizeNoBlankWords: on a table of contents (R-intro's page iii,
// dot leaders and page numbers) Tesseract emits words that are only
// whitespace, at high confidence; Vision never answers such words, and
// they would put " \n" lines into the text. None may come out.
func TestRecognizeNoBlankWords(t *testing.T) {
	const manual = "/usr/share/R/doc/manual/R-intro.pdf"
	if _, err := os.Stat(manual); err != nil {
		t.Skipf("%s (Debian's r-doc-pdf) is missing: %v", manual, err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "toc")
	if b, err := exec.Command("pdftoppm", "-r", "200", "-gray", "-png", "-singlefile", "-f", "4", "-l", "4", manual, out).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, b)
	}
	data, err := os.ReadFile(out + ".png")
	if err != nil {
		t.Fatal(err)
	}
	img, err := Decode(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	ta, err := newEngine(t).Recognize(context.Background(), img, Options{DPI: 200})
	if err != nil {
		t.Fatal(err)
	}
	words := allWords(ta)
	if len(words) < 100 {
		t.Fatalf("%d words, want a page of them", len(words))
	}
	for _, w := range words {
		if strings.TrimSpace(wordText(w)) == "" {
			t.Errorf("a word of only whitespace: %q", wordText(w))
		}
	}
	if strings.Contains(ta.GetText(), " \n") || strings.HasPrefix(ta.GetText(), " ") {
		t.Errorf("text has blank words: %q", ta.GetText()[:min(200, len(ta.GetText()))])
	}
}
