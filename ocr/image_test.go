package ocr

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// testPattern is a small gray image with a diagonal gradient.
func testPattern(w, h int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g.Pix[y*g.Stride+x] = uint8((x + 2*y) * 255 / (w + 2*h))
		}
	}
	return g
}

// encodings returns small valid images in several formats, with Go's
// encoders.
func encodings(t testing.TB) map[string][]byte {
	t.Helper()
	g := testPattern(40, 30)
	rgba := image.NewNRGBA(g.Rect)
	pal := image.NewPaletted(g.Rect, palette.Plan9)
	g16 := image.NewGray16(g.Rect)
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			v := g.GrayAt(x, y).Y
			rgba.SetNRGBA(x, y, color.NRGBA{v, 255 - v, v / 2, uint8(x * 6)})
			pal.Set(x, y, color.Gray{v})
			g16.SetGray16(x, y, color.Gray16{uint16(v) << 8})
		}
	}
	out := map[string][]byte{}
	enc := func(name string, f func(*bytes.Buffer) error) {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = b.Bytes()
	}
	enc("png-gray", func(b *bytes.Buffer) error { return png.Encode(b, g) })
	enc("png-rgba", func(b *bytes.Buffer) error { return png.Encode(b, rgba) })
	enc("png-palette", func(b *bytes.Buffer) error { return png.Encode(b, pal) })
	enc("png-gray16", func(b *bytes.Buffer) error { return png.Encode(b, g16) })
	enc("jpeg", func(b *bytes.Buffer) error { return jpeg.Encode(b, g, nil) })
	enc("gif", func(b *bytes.Buffer) error { return gif.Encode(b, g, nil) })
	enc("bmp", func(b *bytes.Buffer) error { return bmp.Encode(b, rgba) })
	enc("tiff-deflate", func(b *bytes.Buffer) error {
		return tiff.Encode(b, g, &tiff.Options{Compression: tiff.Deflate})
	})
	var pgm bytes.Buffer
	pgm.WriteString("P5\n40 30\n255\n")
	pgm.Write(g.Pix)
	out["pgm"] = pgm.Bytes()
	return out
}

func TestDecode(t *testing.T) {
	for name, data := range encodings(t) {
		t.Run(name, func(t *testing.T) {
			im, err := Decode(data, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if w, h := im.Size(); w != 40 || h != 30 {
				t.Errorf("size %dx%d, want 40x30", w, h)
			}
			if r := im.Resolution(); r != 0 && r != 72 {
				t.Errorf("resolution %d, want none", r)
			}
			im.Close()
			im.Close()
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := encodings(t)
	tests := []struct {
		name      string
		data      []byte
		maxPixels int
		want      error
	}{
		{"empty", nil, 0, ErrFormat},
		{"text", []byte("hello, this is not an image at all"), 0, ErrFormat},
		{"pdf", []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"), 0, ErrFormat},
		{"truncated png", valid["png-gray"][:60], 0, ErrFormat},
		{"truncated jpeg", valid["jpeg"][:len(valid["jpeg"])/3], 0, ErrFormat},
		{"truncated tiff", valid["tiff-deflate"][:20], 0, ErrFormat},
		{"over the limit", valid["png-gray"], 40*30 - 1, ErrTooLarge},
		{"bomb header", append([]byte("P5\n30000 30000\n255\n"), make([]byte, 64)...), 0, ErrTooLarge},
		{"side over 32767", append([]byte("P5\n40000 2\n255\n"), make([]byte, 64)...), 1 << 30, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := Decode(tt.data, tt.maxPixels)
			if err == nil {
				im.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFromGray(t *testing.T) {
	g := testPattern(37, 11) // odd width: rows are padded in the Pix
	sub := g.SubImage(image.Rect(3, 2, 30, 9)).(*image.Gray)
	for _, src := range []*image.Gray{g, sub} {
		im, err := FromGray(src)
		if err != nil {
			t.Fatal(err)
		}
		if w, h := im.Size(); w != src.Rect.Dx() || h != src.Rect.Dy() {
			t.Errorf("size %dx%d, want %v", w, h, src.Rect.Size())
		}
		for _, p := range []image.Point{{0, 0}, {1, 0}, {4, 3}, {src.Rect.Dx() - 1, src.Rect.Dy() - 1}} {
			want := src.GrayAt(src.Rect.Min.X+p.X, src.Rect.Min.Y+p.Y).Y
			if got := im.grayAt(p.X, p.Y); got != want {
				t.Errorf("pixel %v = %d, want %d", p, got, want)
			}
		}
		im.Close()
	}
	if _, err := FromGray(nil); err == nil {
		t.Error("nil: no error")
	}
	if _, err := FromGray(image.NewGray(image.Rect(0, 0, 0, 4))); err == nil {
		t.Error("empty: no error")
	}
	bad := &image.Gray{Pix: make([]byte, 10), Stride: 10, Rect: image.Rect(0, 0, 10, 10)}
	if _, err := FromGray(bad); err == nil {
		t.Error("short buffer: no error")
	}
}

// TestTurn: each quarter turn moves pixel (x, y) where a clockwise turn
// puts it, and four turns are the image again.
func TestTurn(t *testing.T) {
	g := testPattern(37, 11)
	for quads := -1; quads <= 4; quads++ {
		im, err := FromGray(g)
		if err != nil {
			t.Fatal(err)
		}
		if err := im.Turn(quads); err != nil {
			t.Fatal(err)
		}
		w, h := im.Size()
		for _, p := range []image.Point{{0, 0}, {1, 0}, {4, 3}, {36, 10}} {
			x, y, cw, ch := p.X, p.Y, g.Rect.Dx(), g.Rect.Dy()
			for range ((quads % 4) + 4) % 4 { // clockwise: (x, y) → (height-1-y, x)
				x, y, cw, ch = ch-1-y, x, ch, cw
			}
			if quads%2 != 0 && (w != 11 || h != 37) || quads%2 == 0 && (w != 37 || h != 11) {
				t.Fatalf("turn %d: size %dx%d", quads, w, h)
			}
			if got, want := im.grayAt(x, y), g.GrayAt(p.X, p.Y).Y; got != want {
				t.Errorf("turn %d: pixel %v at (%d,%d) = %d, want %d", quads, p, x, y, got, want)
			}
		}
		im.Close()
	}
}

// convert runs ImageMagick's convert in dir, skipping the test without it.
func convert(t testing.TB, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("convert"); err != nil {
		t.Skip("ImageMagick convert not installed")
	}
	cmd := exec.Command("convert", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("convert %v: %v\n%s", args, err, out)
	}
}

// g4TIFF writes a two-page CCITT G4 TIFF at 300 dpi from rendered pages and
// returns its path.
func g4TIFF(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for i, paras := range [][][]string{paragraphs[:1], paragraphs[1:]} {
		f, err := os.Create(filepath.Join(dir, []string{"a.png", "b.png"}[i]))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, renderPage(t, paras)); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	convert(t, dir, "a.png", "b.png", "-threshold", "50%", "-units", "PixelsPerInch", "-density", "300",
		"-compress", "Group4", "pages.tif")
	return filepath.Join(dir, "pages.tif")
}

func TestReadTIFFPage(t *testing.T) {
	path := g4TIFF(t)
	e := newEngine(t)
	for i, want := range []string{"quick brown fox", "zebras"} {
		im, err := ReadTIFFPage(path, i, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r := im.Resolution(); r != 300 {
			t.Errorf("page %d: resolution %d, want 300", i, r)
		}
		ta, err := e.Recognize(t.Context(), im, Options{})
		im.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ta.Text, want) {
			t.Errorf("page %d: text %q, want it to contain %q", i, ta.Text, want)
		}
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "cut.tif")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		index     int
		maxPixels int
		want      error
		wantText  string
	}{
		{"past the end", path, 2, 0, ErrFormat, "the file has 2"},
		{"negative", path, -1, 0, nil, "negative"},
		{"too large", path, 0, 1000, ErrTooLarge, "limit"},
		{"missing", filepath.Join(t.TempDir(), "none.tif"), 0, 0, os.ErrNotExist, ""},
		{"not a tiff", writeTemp(t, []byte("just text, not a TIFF file")), 0, 0, ErrFormat, ""},
		{"truncated", truncated, 1, 0, ErrFormat, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := ReadTIFFPage(tt.path, tt.index, tt.maxPixels)
			if err == nil {
				im.Close()
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err %q does not mention %q", err, tt.wantText)
			}
		})
	}
}

func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeResolution(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "in.png"))
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, testPattern(50, 20))
	f.Close()
	convert(t, dir, "in.png", "-units", "PixelsPerInch", "-density", "200", "out.png")
	convert(t, dir, "in.png", "-units", "PixelsPerInch", "-density", "150", "-compress", "JPEG", "out.tif")
	for name, want := range map[string]int{"out.png": 200, "out.tif": 150} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		im, err := Decode(data, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := im.Resolution(); r != want {
			t.Errorf("%s: resolution %d, want %d", name, r, want)
		}
		im.Close()
	}
}

// FuzzDecode checks that no input crashes Decode, and that whatever it
// accepts has a sane size within the limit.
func FuzzDecode(f *testing.F) {
	for _, data := range encodings(f) {
		f.Add(data)
	}
	f.Add([]byte("P5\n30000 30000\n255\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 20
		im, err := Decode(data, limit)
		if err != nil {
			return
		}
		defer im.Close()
		w, h := im.Size()
		if w <= 0 || h <= 0 || w*h > limit {
			t.Fatalf("accepted %dx%d", w, h)
		}
	})
}

func BenchmarkDecodeG4(b *testing.B) {
	data, err := os.ReadFile(g4TIFF(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		im, err := Decode(data, 0)
		if err != nil {
			b.Fatal(err)
		}
		im.Close()
	}
}

func BenchmarkReadTIFFPageG4(b *testing.B) {
	path := g4TIFF(b)
	for b.Loop() {
		im, err := ReadTIFFPage(path, 1, 0)
		if err != nil {
			b.Fatal(err)
		}
		im.Close()
	}
}
