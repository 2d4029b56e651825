package pipeline

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// refPages composites data with image/gif's DecodeAll (the compositor used
// before the streaming reader) and returns copies of its pages.
func refPages(t testing.TB, data []byte) []*image.Gray {
	t.Helper()
	c, err := decodeRefGIF(bytes.NewReader(data), 0)
	if err != nil {
		t.Fatalf("reference decode: %v", err)
	}
	var pages []*image.Gray
	for n := 1; n <= c.frames(); n++ {
		p := c.page(n)
		q := image.NewGray(p.Rect)
		copy(q.Pix, p.Pix)
		pages = append(pages, q)
	}
	return pages
}

// streamPages reads every page of data with the streaming reader, in the
// given order (nil: ascending), and returns copies indexed by page - 1.
func streamPages(t testing.TB, data []byte, order []int) ([]*image.Gray, error) {
	t.Helper()
	s, err := openGIFStream(bytes.NewReader(data), 0)
	if err != nil {
		return nil, err
	}
	if order == nil {
		for n := 1; n <= s.frames; n++ {
			order = append(order, n)
		}
	}
	pages := make([]*image.Gray, s.frames)
	for _, n := range order {
		p, err := s.page(n)
		if err != nil {
			return nil, err
		}
		q := image.NewGray(p.Rect)
		copy(q.Pix, p.Pix)
		pages[n-1] = q
	}
	return pages, nil
}

// crop returns the part of g within r, at r's origin.
func crop(g *image.Gray, r image.Rectangle) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		copy(out.Pix[y*out.Stride:(y+1)*out.Stride], g.Pix[(r.Min.Y+y)*g.Stride+r.Min.X:])
	}
	return out
}

func comparePages(t testing.TB, got, want []*image.Gray) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d pages, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Rect != want[i].Rect {
			t.Fatalf("page %d: bounds %v, want %v", i+1, got[i].Rect, want[i].Rect)
		}
		if !bytes.Equal(got[i].Pix, want[i].Pix) {
			for j := range got[i].Pix {
				if got[i].Pix[j] != want[i].Pix[j] {
					w := got[i].Rect.Dx()
					t.Fatalf("page %d differs first at (%d,%d): %d, want %d", i+1, j%w, j/w, got[i].Pix[j], want[i].Pix[j])
				}
			}
		}
	}
}

// randomGIF builds a GIF of n frames on a w×h screen with random frame
// rectangles, content, disposal and transparency; some frames have local
// palettes.
func randomGIF(rng *rand.Rand, w, h, n int) *gif.GIF {
	g := &gif.GIF{Config: image.Config{ColorModel: gifPalette, Width: w, Height: h}}
	for range n {
		x0, y0 := rng.IntN(w), rng.IntN(h)
		x1, y1 := x0+1+rng.IntN(w-x0), y0+1+rng.IntN(h-y0)
		pal := gifPalette
		if rng.IntN(3) == 0 {
			pal = color.Palette{color.Gray{Y: uint8(rng.IntN(256))}, color.RGBA{R: 200, G: 30, B: 90, A: 255}, color.Transparent}
		}
		f := image.NewPaletted(image.Rect(x0, y0, x1, y1), pal)
		for i := range f.Pix {
			f.Pix[i] = uint8(rng.IntN(len(pal)))
		}
		g.Image = append(g.Image, f)
		g.Delay = append(g.Delay, 0)
		g.Disposal = append(g.Disposal, byte(rng.IntN(4)))
	}
	return g
}

func TestGIFStreamMatchesDecodeAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := map[string][]byte{}
	for i, sz := range []image.Point{{1, 1}, {7, 3}, {40, 30}, {300, 17}} {
		cases["random "+string(rune('a'+i))] = encodeGIF(t, randomGIF(rng, sz.X, sz.Y, 12))
	}
	cases["one frame"] = encodeGIF(t, &gif.GIF{Image: []*image.Paletted{frame(0, 0, 20, 10, 2)}, Delay: []int{0},
		Config: image.Config{ColorModel: gifPalette, Width: 20, Height: 10}})
	// Interlaced and multi-palette GIFs, as ImageMagick writes them.
	if path, err := exec.LookPath("convert"); err == nil {
		dir := t.TempDir()
		for name, args := range map[string][]string{
			"magick interlaced": {"-size", "64x37", "gradient:black-white", "(", "-size", "20x11", "plasma:", "-repage", "+5+9", ")", "-interlace", "GIF", "-delay", "0"},
			"magick dispose":    {"-size", "30x20", "xc:white", "-dispose", "Previous", "(", "-size", "10x7", "xc:red", "-repage", "+3+4", ")", "-dispose", "Background", "(", "-size", "12x5", "xc:blue", "-repage", "+9+2", ")", "(", "-size", "5x5", "xc:none", ")"},
		} {
			out := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".gif")
			if b, err := exec.Command(path, append(args, out)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: convert: %v\n%s", name, err, b)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			cases[name] = data
		}
	} else {
		t.Log("convert not installed: ImageMagick cases skipped")
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			want := refPages(t, data)
			got, err := streamPages(t, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			comparePages(t, got, want)
			// Out of order: later pages after earlier ones restart.
			var order []int
			for n := len(want); n >= 1; n-- {
				order = append(order, n, max(1, n-1))
			}
			got, err = streamPages(t, data, order)
			if err != nil {
				t.Fatal(err)
			}
			comparePages(t, got, want)
		})
	}
}

// setScreen rewrites the logical screen size of an encoded GIF.
func setScreen(data []byte, w, h int) []byte {
	out := bytes.Clone(data)
	out[6], out[7], out[8], out[9] = byte(w), byte(w>>8), byte(h), byte(h>>8)
	return out
}

func TestGIFFramesPastScreen(t *testing.T) {
	// Encoded on a 20×10 screen, then the screen is shrunk so that frames
	// reach past it (as ImageMagick writes frames of different sizes) or
	// lie wholly outside it. Clipping must show what the big screen shows
	// within the small one.
	g := &gif.GIF{
		Image: []*image.Paletted{
			frame(0, 0, 20, 10, 1),  // white, past the right and bottom
			frame(5, 2, 10, 6, 0),   // black, reaching past the right
			frame(14, 6, 6, 4, 2),   // gray, wholly outside
			frame(0, 0, 20, 10, 3),  // transparent: shows what disposal left
			frame(8, 3, 12, 7, 2),   // gray, across the corner
			frame(12, 0, 8, 10, 0)}, // black, wholly outside
		Delay:    []int{0, 0, 0, 0, 0, 0},
		Disposal: []byte{gif.DisposalNone, gif.DisposalPrevious, gif.DisposalBackground, gif.DisposalNone, gif.DisposalBackground, gif.DisposalNone},
		Config:   image.Config{ColorModel: gifPalette, Width: 20, Height: 10},
	}
	full := encodeGIF(t, g)
	want := refPages(t, full)
	for i := range want {
		want[i] = crop(want[i], image.Rect(0, 0, 12, 6))
	}
	small := setScreen(full, 12, 6)
	if _, err := gif.DecodeAll(bytes.NewReader(small)); err == nil {
		t.Fatal("image/gif accepts frames past the screen: the case is not tested")
	}
	got, err := streamPages(t, small, nil)
	if err != nil {
		t.Fatal(err)
	}
	comparePages(t, got, want)
	// Page 3's frame is wholly outside: the page is page 2 after its
	// disposal (restore to previous: all white).
	for _, v := range got[2].Pix {
		if v != 255 {
			t.Fatalf("page 3 (frame off screen) has %d, want all white", v)
		}
	}

	// Through the Opener, as the worker reads it.
	doc, err := GIF{}.Open(context.Background(), bytes.NewReader(small), int64(len(small)))
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	if doc.PageCount() != 6 {
		t.Fatalf("PageCount = %d, want 6", doc.PageCount())
	}
	for _, n := range []int{2, 5, 1, 6} {
		r, err := doc.Raster(context.Background(), n, RasterOptions{})
		if err != nil {
			t.Fatalf("page %d: %v", n, err)
		}
		comparePages(t, []*image.Gray{r.Gray}, want[n-1:n])
	}
}

// TestGIFImageMagickSizes: ImageMagick's GIF of frames of different sizes,
// larger than the first and off screen, which image/gif refuses.
func TestGIFImageMagickSizes(t *testing.T) {
	path, err := exec.LookPath("convert")
	if err != nil {
		t.Skip("convert (ImageMagick) not installed")
	}
	out := filepath.Join(t.TempDir(), "sizes.gif")
	if b, err := exec.Command(path, "-size", "40x30", "xc:white", "(", "-size", "60x50", "xc:black", ")",
		"(", "-size", "25x8", "xc:gray", ")", "(", "-size", "20x20", "xc:gray", "-repage", "+50+40", ")",
		"-delay", "0", out).CombinedOutput(); err != nil {
		t.Fatalf("convert: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gif.DecodeAll(bytes.NewReader(data)); err == nil {
		t.Log("image/gif accepts ImageMagick's file")
	}
	got, err := streamPages(t, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d pages, want 4", len(got))
	}
	at := func(n, x, y int) uint8 { return got[n-1].GrayAt(x, y).Y }
	for _, c := range []struct{ page, x, y int }{{1, 0, 0}, {1, 39, 29}, {2, 0, 0}, {2, 39, 29}, {3, 24, 7}, {3, 25, 8}, {4, 39, 29}} {
		want := map[int]uint8{1: 255, 2: 0, 3: 0, 4: 0}[c.page]
		if c.page == 3 && c.x < 25 && c.y < 8 {
			want = 190 // ImageMagick's "gray" is 190/255
		}
		if v := at(c.page, c.x, c.y); v != want && (want != 190 || v < 120 || v > 200) {
			t.Errorf("page %d at (%d,%d) = %d, want %d", c.page, c.x, c.y, v, want)
		}
	}
	for i, p := range got {
		if p.Rect != image.Rect(0, 0, 40, 30) {
			t.Errorf("page %d: %v, want the 40×30 screen", i+1, p.Rect)
		}
	}
}

func TestGIFStreamQuirks(t *testing.T) {
	three := encodeGIF(t, &gif.GIF{
		Image:  []*image.Paletted{frame(0, 0, 50, 40, 0), frame(0, 0, 50, 40, 2), frame(0, 0, 50, 40, 1)},
		Delay:  []int{0, 0, 0},
		Config: image.Config{ColorModel: gifPalette, Width: 50, Height: 40},
	})
	want := refPages(t, three)
	// Offsets of the image descriptors, found by reading the file.
	var descs []int
	for i := 13 + 3*4; i < len(three); {
		switch three[i] {
		case gifExtension:
			i += 2
			for three[i] != 0 {
				i += int(three[i]) + 1
			}
			i++
		case gifImage:
			descs = append(descs, i)
			i += 10
			if three[i-1]&0x80 != 0 {
				i += 3 << (1 + three[i-1]&7)
			}
			i++
			for three[i] != 0 {
				i += int(three[i]) + 1
			}
			i++
		default:
			i = len(three)
		}
	}
	if len(descs) != 3 {
		t.Fatalf("found %d image descriptors, want 3", len(descs))
	}

	t.Run("missing trailer", func(t *testing.T) {
		got, err := streamPages(t, three[:len(three)-1], nil)
		if err != nil {
			t.Fatal(err)
		}
		comparePages(t, got, want)
	})
	t.Run("garbage after trailer", func(t *testing.T) {
		got, err := streamPages(t, append(bytes.Clone(three), "junk"...), nil)
		if err != nil {
			t.Fatal(err)
		}
		comparePages(t, got, want)
	})
	t.Run("truncated last frame", func(t *testing.T) {
		cut := three[:descs[2]+40] // a few rows of frame 3 drawn, then the end
		var pages int
		err := GIFPages(bytes.NewReader(cut), 0, func(n int, p *image.Gray) error {
			pages = n
			comparePages(t, []*image.Gray{p}, want[n-1:n])
			return nil
		})
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "page 3") || pages != 2 {
			t.Fatalf("after %d pages: %v, want an ErrInvalidInput naming page 3", pages, err)
		}
		doc, err := GIF{}.Open(context.Background(), bytes.NewReader(cut), int64(len(cut)))
		if err != nil {
			t.Fatal(err)
		}
		if doc.PageCount() != 3 {
			t.Fatalf("PageCount = %d, want 3", doc.PageCount())
		}
		if _, err := doc.Raster(context.Background(), 3, RasterOptions{}); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "page 3") {
			t.Errorf("page 3: %v, want an ErrInvalidInput naming page 3", err)
		}
		if r, err := doc.Raster(context.Background(), 2, RasterOptions{}); err != nil {
			t.Errorf("page 2 after the damaged page 3: %v", err)
		} else {
			comparePages(t, []*image.Gray{r.Gray}, want[1:2])
		}
		if _, err := doc.Raster(context.Background(), 3, RasterOptions{}); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("page 3 again: %v, want ErrInvalidInput", err)
		}
	})
	t.Run("data past the end", func(t *testing.T) {
		// Frame 2 declared 10 rows high: the rest of its data is pixels
		// past the frame (image/gif: "too much image data"); skipped.
		b := bytes.Clone(three)
		b[descs[1]+7], b[descs[1]+8] = 10, 0
		got, err := streamPages(t, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got[1].GrayAt(0, 9).Y != 128 || got[1].GrayAt(0, 10).Y != 0 || got[2].GrayAt(49, 39).Y != 255 {
			t.Errorf("page 2 rows 9, 10 = %d, %d, page 3 = %d; want 128, 0, 255", got[1].GrayAt(0, 9).Y, got[1].GrayAt(0, 10).Y, got[2].GrayAt(49, 39).Y)
		}
	})
	t.Run("data ends early", func(t *testing.T) {
		// Frame 2 declared 80 rows high on an 80-row screen: its data
		// covers 40; the rest is left as it was (image/gif refuses).
		b := setScreen(three, 50, 80)
		b[descs[1]+7], b[descs[1]+8] = 80, 0
		got, err := streamPages(t, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got[1].GrayAt(0, 39).Y != 128 || got[1].GrayAt(0, 40).Y != 255 {
			t.Errorf("page 2 rows 39, 40 = %d, %d; want 128, 255", got[1].GrayAt(0, 39).Y, got[1].GrayAt(0, 40).Y)
		}
	})
	t.Run("bad LZW code size", func(t *testing.T) {
		b := bytes.Clone(three)
		b[descs[1]+10] = 12
		_, err := streamPages(t, b, nil)
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "page 2") {
			t.Errorf("%v, want an ErrInvalidInput naming page 2", err)
		}
	})
	t.Run("screen over the limit", func(t *testing.T) {
		b := setScreen(three, 60000, 60000)
		if _, err := openGIFStream(bytes.NewReader(b), DefaultMaxPixels); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%v, want ErrInvalidInput", err)
		}
	})
}

// bigGIF encodes n frames of w×h in gray gradients.
func bigGIF(t testing.TB, w, h, n int) []byte {
	t.Helper()
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.Gray{Y: uint8(i)}
	}
	// Four distinct frames, cycled, keep the encoder's memory small.
	var distinct [4]*image.Paletted
	for i := range distinct {
		distinct[i] = image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for j := range distinct[i].Pix {
			distinct[i].Pix[j] = uint8(64*i + j/w)
		}
	}
	frames := make([]*image.Paletted, n)
	for i := range frames {
		frames[i] = distinct[i%len(distinct)]
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: frames, Delay: make([]int, n), Config: image.Config{ColorModel: pal, Width: w, Height: h}}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gifPeakBytes reads every page of data and returns the bytes allocated
// while doing so (an upper bound of the heap it adds).
func gifPeakBytes(t testing.TB, data []byte) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pages := 0
	if err := GIFPages(bytes.NewReader(data), 0, func(n int, p *image.Gray) error { pages = n; return nil }); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if pages == 0 {
		t.Fatal("no pages")
	}
	return after.TotalAlloc - before.TotalAlloc
}

// TestGIFPagesMemory: 200 frames of 500×400 cost about one frame, not 200.
func TestGIFPagesMemory(t *testing.T) {
	const w, h, n = 500, 400, 200
	data := bigGIF(t, w, h, n)
	got := gifPeakBytes(t, data)
	// The canvas, a row, the LZW decoder and the read buffer; 200 frames
	// at once would be 40 MB.
	if limit := uint64(2*w*h + 256<<10); got > limit {
		t.Errorf("reading %d frames of %d×%d allocated %d bytes, want at most %d", n, w, h, got, limit)
	}
	t.Logf("%d frames of %d×%d: %d bytes allocated (%.2f frames)", n, w, h, got, float64(got)/(w*h))
}

// BenchmarkGIFPages reports the bytes allocated to read a 200-frame
// 1000×1000 GIF, in bytes and in frames (one frame is 1e6 bytes of gray):
// with the streaming reader, and with image/gif's DecodeAll for contrast.
func BenchmarkGIFPages(b *testing.B) {
	const w, h, n = 1000, 1000, 200
	data := bigGIF(b, w, h, n)
	report := func(b *testing.B, read func()) {
		var total uint64
		for range b.N {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			read()
			runtime.ReadMemStats(&after)
			total += after.TotalAlloc - before.TotalAlloc
		}
		b.ReportMetric(float64(total)/float64(b.N), "alloc-bytes/file")
		b.ReportMetric(float64(total)/float64(b.N)/(w*h), "frames/file")
	}
	b.Run("stream", func(b *testing.B) {
		report(b, func() {
			if err := GIFPages(bytes.NewReader(data), 0, func(int, *image.Gray) error { return nil }); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("DecodeAll", func(b *testing.B) {
		report(b, func() {
			if _, err := gif.DecodeAll(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// FuzzGIFStream: on any bytes the streaming reader returns pages or errors
// wrapping ErrInvalidInput, never panics, and on files image/gif accepts
// it gives image/gif's pages, in any order of reading.
func FuzzGIFStream(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	_ = gif.EncodeAll(&b, randomGIF(rng, 9, 7, 4))
	f.Add(b.Bytes(), uint8(0))
	f.Add(b.Bytes()[:b.Len()*2/3], uint8(1))
	f.Add(setScreen(b.Bytes(), 5, 4), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, order uint8) {
		s, err := openGIFStream(bytes.NewReader(data), 1<<16)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("open: error %v does not wrap ErrInvalidInput", err)
			}
			return
		}
		if s.frames < 1 {
			t.Fatalf("opened with %d frames", s.frames)
		}
		var want []*image.Gray
		// image/gif carries a graphic control's disposal on to later
		// frames that have none, and merges the transparency of two before
		// one frame; browsers and the reader take each frame's last one
		// alone, so only files whose frames have exactly one are compared.
		if g, err := gif.DecodeAll(bytes.NewReader(data)); err == nil && len(g.Image) == s.frames && allFramesHaveGCE(data) {
			want = refPages(t, data)
		}
		// Pages 1..min(frames, 8), ascending or, for odd order, with
		// backward jumps.
		last := min(s.frames, 8)
		var seq []int
		for n := 1; n <= last; n++ {
			seq = append(seq, n)
			if order&1 != 0 && n > 1 {
				seq = append(seq, 1+int(order)%n)
			}
		}
		for _, n := range seq {
			p, err := s.page(n)
			if err != nil {
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("page %d: error %v does not wrap ErrInvalidInput", n, err)
				}
				if want != nil {
					t.Fatalf("page %d: %v; image/gif reads it", n, err)
				}
				continue
			}
			if p.Rect != s.screen {
				t.Fatalf("page %d: %v, screen %v", n, p.Rect, s.screen)
			}
			if want != nil && !bytes.Equal(p.Pix, want[n-1].Pix) {
				t.Fatalf("page %d (of sequence %v) differs from image/gif's", n, seq)
			}
		}
	})
}

// allFramesHaveGCE reports whether every image descriptor of a well-formed
// GIF follows exactly one graphic control extension of its own.
func allFramesHaveGCE(data []byte) bool {
	if len(data) < 13 {
		return false
	}
	i := 13
	if data[10]&0x80 != 0 {
		i += 3 << (1 + data[10]&7)
	}
	skip := func() bool { // sub-blocks up to the terminator
		for i < len(data) && data[i] != 0 {
			i += int(data[i]) + 1
		}
		i++
		return i <= len(data)
	}
	gce := false
	for i < len(data) {
		switch data[i] {
		case gifExtension:
			if i+1 >= len(data) {
				return false
			}
			if data[i+1] == gifGraphicCtrl {
				if gce {
					return false // image/gif merges two
				}
				gce = true
			}
			i += 2
			if !skip() {
				return false
			}
		case gifImage:
			if !gce || i+10 >= len(data) {
				return false
			}
			gce = false
			flags := data[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (1 + flags&7)
			}
			i++ // LZW code size
			if !skip() {
				return false
			}
		default:
			return true
		}
	}
	return true
}
