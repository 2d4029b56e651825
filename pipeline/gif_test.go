package pipeline

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"testing"
)

var gifPalette = color.Palette{color.Black, color.White, color.Gray{Y: 128}, color.Transparent}

// frame is a w×h paletted frame at (x, y) filled with palette index fill.
func frame(x, y, w, h int, fill uint8) *image.Paletted {
	p := image.NewPaletted(image.Rect(x, y, x+w, y+h), gifPalette)
	for i := range p.Pix {
		p.Pix[i] = fill
	}
	return p
}

func encodeGIF(t *testing.T, g *gif.GIF) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pagesOf returns each page's gray value at the given points.
func pagesOf(t *testing.T, data []byte, points []image.Point) [][]uint8 {
	t.Helper()
	var got [][]uint8
	err := GIFPages(bytes.NewReader(data), 0, func(n int, p *image.Gray) error {
		if n != len(got)+1 {
			t.Errorf("page %d out of order", n)
		}
		var vals []uint8
		for _, pt := range points {
			vals = append(vals, p.GrayAt(pt.X, pt.Y).Y)
		}
		got = append(got, vals)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestGIFPagesComposite(t *testing.T) {
	// Points: outside the patch (0,0), inside the patch (12,2).
	pts := []image.Point{{0, 0}, {12, 2}}
	const black, white, gray = 0, 255, 128
	tests := []struct {
		name     string
		disposal byte // of the patch frame
		want     [][]uint8
	}{
		// Frame 1: black screen. Frame 2: gray patch. Frame 3: a fully
		// transparent frame over the screen, showing what disposal left.
		{"none keeps the patch", gif.DisposalNone, [][]uint8{{black, black}, {black, gray}, {black, gray}}},
		{"background clears to white", gif.DisposalBackground, [][]uint8{{black, black}, {black, gray}, {black, white}}},
		{"previous restores black", gif.DisposalPrevious, [][]uint8{{black, black}, {black, gray}, {black, black}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gif.GIF{
				Image:    []*image.Paletted{frame(0, 0, 20, 10, 0), frame(10, 0, 5, 5, 2), frame(0, 0, 20, 10, 3)},
				Delay:    []int{0, 0, 0},
				Disposal: []byte{gif.DisposalNone, tt.disposal, gif.DisposalNone},
				Config:   image.Config{ColorModel: gifPalette, Width: 20, Height: 10},
			}
			got := pagesOf(t, encodeGIF(t, g), pts)
			if len(got) != len(tt.want) {
				t.Fatalf("%d pages, want %d", len(got), len(tt.want))
			}
			for i := range got {
				for j := range got[i] {
					if got[i][j] != tt.want[i][j] {
						t.Errorf("page %d at %v = %d, want %d", i+1, pts[j], got[i][j], tt.want[i][j])
					}
				}
			}
		})
	}
}

func TestGIFPagesErrors(t *testing.T) {
	big := encodeGIF(t, &gif.GIF{Image: []*image.Paletted{frame(0, 0, 100, 100, 1)}, Delay: []int{0},
		Config: image.Config{ColorModel: gifPalette, Width: 100, Height: 100}})
	if err := GIFPages(bytes.NewReader(big), 5000, func(int, *image.Gray) error { return nil }); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("over the pixel limit: %v, want ErrInvalidInput", err)
	}
	for name, data := range map[string][]byte{"not a gif": []byte("%PDF-1.7"), "truncated": big[:len(big)/2], "empty": nil} {
		if err := GIFPages(bytes.NewReader(data), 0, func(int, *image.Gray) error { return nil }); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	stop := errors.New("stop")
	if err := GIFPages(bytes.NewReader(big), 0, func(int, *image.Gray) error { return stop }); err != stop {
		t.Errorf("callback error = %v, want it returned as is", err)
	}
}

// FuzzGIFPages: any bytes decode or fail with ErrInvalidInput, never panic.
func FuzzGIFPages(f *testing.F) {
	var b bytes.Buffer
	_ = gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{frame(0, 0, 4, 4, 0), frame(1, 1, 2, 2, 2)},
		Delay: []int{0, 0}, Disposal: []byte{0, gif.DisposalPrevious},
		Config: image.Config{ColorModel: gifPalette, Width: 4, Height: 4}})
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		err := GIFPages(bytes.NewReader(data), 1<<20, func(int, *image.Gray) error { return nil })
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("error %v does not wrap ErrInvalidInput", err)
		}
	})
}
