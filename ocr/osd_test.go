package ocr

import (
	"context"
	"image"
	"image/draw"
	"math"
	"strings"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/internal/textmetric"
)

// turnCW turns g by quads quarter turns clockwise.
func turnCW(g *image.Gray, quads int) *image.Gray {
	for ; quads%4 != 0; quads-- {
		w, h := g.Rect.Dx(), g.Rect.Dy()
		o := image.NewGray(image.Rect(0, 0, h, w))
		for y := 0; y < h; y++ {
			row := g.Pix[g.PixOffset(g.Rect.Min.X, g.Rect.Min.Y+y):]
			for x := 0; x < w; x++ {
				o.Pix[x*o.Stride+(h-1-y)] = row[x]
			}
		}
		g = o
	}
	return g
}

// turnPoint maps a normalized point of an image to the image turned by
// quads quarter turns clockwise.
func turnPoint(v *visionpb.NormalizedVertex, quads int) (float64, float64) {
	x, y := float64(v.X), float64(v.Y)
	for ; quads > 0; quads-- {
		x, y = 1-y, x
	}
	return x, y
}

func TestRecognizeOrientation(t *testing.T) {
	e := newEngine(t)
	upright := renderPage(t, paragraphs)
	ref, err := e.Recognize(context.Background(), toImage(t, upright), Options{DPI: dpi})
	if err != nil {
		t.Fatal(err)
	}
	refWord := allWords(ref)[0]
	for _, q := range []int{1, 2, 3} {
		g := turnCW(upright, q)
		ta, err := e.Recognize(context.Background(), toImage(t, g), Options{DPI: dpi, DetectOrientation: true})
		if err != nil {
			t.Fatal(err)
		}
		if int(ta.Pages[0].Width) != g.Rect.Dx() || int(ta.Pages[0].Height) != g.Rect.Dy() {
			t.Errorf("turned %d°: page %dx%d, want the image's %v", 90*q, ta.Pages[0].Width, ta.Pages[0].Height, g.Rect.Size())
		}
		if cer := textmetric.CER(textmetric.Normalize(ref.Text), textmetric.Normalize(ta.Text)); cer > 0.02 {
			t.Errorf("turned %d°: CER %.3f against upright\n got %q", 90*q, cer, ta.Text)
		}
		// The first word's box is the upright one turned with the page,
		// starting at the word's reading top-left.
		w := allWords(ta)[0]
		if wordText(w) != wordText(refWord) {
			t.Fatalf("turned %d°: first word %q, want %q", 90*q, wordText(w), wordText(refWord))
		}
		for i, v := range w.BoundingBox.NormalizedVertices {
			x, y := turnPoint(refWord.BoundingBox.NormalizedVertices[i], q)
			if math.Abs(float64(v.X)-x) > 0.01 || math.Abs(float64(v.Y)-y) > 0.01 {
				t.Errorf("turned %d°: vertex %d at (%.3f, %.3f), want (%.3f, %.3f)", 90*q, i, v.X, v.Y, x, y)
			}
		}
	}
}

func TestRecognizeOrientationUnsure(t *testing.T) {
	// A blank page and a page of noise give OSD nothing or little to go
	// on: they must be recognized as given, without error.
	blank := image.NewGray(image.Rect(0, 0, 1200, 1600))
	draw.Draw(blank, blank.Bounds(), image.White, image.Point{}, draw.Src)
	noise := image.NewGray(image.Rect(0, 0, 1200, 1600))
	x := uint32(1)
	for i := range noise.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		noise.Pix[i] = 255
		if x%23 == 0 {
			noise.Pix[i] = 0
		}
	}
	e := newEngine(t)
	for name, g := range map[string]*image.Gray{"blank": blank, "noise": noise} {
		im := toImage(t, g)
		d, err := e.detector()
		if err != nil {
			t.Fatal(err)
		}
		o, err := d.detect(context.Background(), im, dpi)
		if err != nil {
			t.Fatal(err)
		}
		if o.quads != 0 {
			t.Errorf("%s: turned by %d quarters (confidence %.2f)", name, o.quads, o.conf)
		}
		if _, err := e.Recognize(context.Background(), im, Options{DPI: dpi, DetectOrientation: true}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRecognizeUpscaleKeepsBoxes(t *testing.T) {
	e := newEngine(t)
	im := toImage(t, renderPage(t, paragraphs[:1]))
	plain, err := e.Recognize(context.Background(), im, Options{DPI: 150})
	if err != nil {
		t.Fatal(err)
	}
	orig := upscaleFactor
	upscaleFactor = func(int) float64 { return 2 }
	defer func() { upscaleFactor = orig }()
	scaled, err := e.Recognize(context.Background(), im, Options{DPI: 150})
	if err != nil {
		t.Fatal(err)
	}
	if w, h := im.Size(); int(scaled.Pages[0].Width) != w || int(scaled.Pages[0].Height) != h {
		t.Errorf("page %dx%d, want the original %dx%d", scaled.Pages[0].Width, scaled.Pages[0].Height, w, h)
	}
	pw, sw := allWords(plain), allWords(scaled)
	if len(pw) != len(sw) {
		t.Fatalf("%d words scaled, %d plain:\n%q\n%q", len(sw), len(pw), scaled.Text, plain.Text)
	}
	for i := range pw {
		for j, v := range sw[i].BoundingBox.NormalizedVertices {
			p := pw[i].BoundingBox.NormalizedVertices[j]
			if math.Abs(float64(v.X-p.X)) > 0.015 || math.Abs(float64(v.Y-p.Y)) > 0.015 { // a few pixels: thresholding differs
				t.Errorf("word %q vertex %d: %v scaled, %v plain", wordText(sw[i]), j, v, p)
			}
		}
	}
	if !strings.Contains(scaled.Text, "quick brown") {
		t.Errorf("scaled text %q", scaled.Text)
	}
}
