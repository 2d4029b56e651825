package ocr

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/folio-ocr/folio/internal/textmetric"
)

var prose = []string{
	"Minutes of the quarterly meeting held on 14 March 2023 in the",
	"board room. Present were the chair, the treasurer, three members",
	"of the finance committee and the auditor, who arrived late.",
	"The treasurer reported that income rose by 7.5% over the previous",
	"quarter, mostly from subscriptions; expenses for heating, repairs",
	"and postage were higher than budgeted. A member asked whether the",
	"reserve fund (currently 48,210 euros) should be moved to a deposit",
	"account with a better rate. After a short discussion it was agreed",
	"to request offers from two banks before the next meeting.",
	"The auditor noted that invoices numbered 1182 to 1197 lacked",
	"signatures and asked for them to be signed by Friday. The chair",
	"thanked the volunteers who had painted the hall in January and",
	"proposed a vote of thanks, which was carried unanimously.",
	"Any other business: the website needs a new photograph of the",
	"building; quotes for replacing the broken window in the kitchen",
	"are expected next week. The meeting closed at 9:40 pm.",
}

func renderAt(t testing.TB, lines []string, dpi int, pt float64) *image.Gray {
	f, _ := opentype.Parse(goregular.TTF)
	px := pt / 72 * float64(dpi)
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: px, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		t.Fatal(err)
	}
	defer face.Close()
	margin := dpi / 2
	lineH := int(px * 1.4)
	img := image.NewGray(image.Rect(0, 0, int(8.5*float64(dpi)), 2*margin+len(lines)*lineH+lineH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: face}
	y := margin
	for _, l := range lines {
		y += lineH
		d.Dot = fixed.P(margin, y)
		d.DrawString(l)
	}
	return img
}

// scanned renders at 3x and box-averages down (a scanner's optics), then adds noise.
func scanned(t testing.TB, lines []string, dpi int, pt float64, seed uint64) *image.Gray {
	big := renderAt(t, lines, 3*dpi, pt)
	w, h := big.Rect.Dx()/3, big.Rect.Dy()/3
	o := image.NewGray(image.Rect(0, 0, w, h))
	x := seed | 1
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			sum := 0
			for dy := -1; dy < 4; dy++ {
				for dx := -1; dx < 4; dx++ {
					sum += int(big.GrayAt(3*xx+dx, 3*y+dy).Y)
				}
			}
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			v := sum/25 + int(x%61) - 30
			o.Pix[y*o.Stride+xx] = uint8(min(max(v, 0), 255))
		}
	}
	return o
}

func threshold(g *image.Gray) *image.Gray {
	o := image.NewGray(g.Rect)
	for i, v := range g.Pix {
		if v < 140 {
			o.Pix[i] = 0
		} else {
			o.Pix[i] = 255
		}
	}
	return o
}

// TestMeasureUpscale prints the CER of text rendered as a scan at low
// resolutions, recognized as is and enlarged 1.5, 2 and 3 times: the
// measurement behind upscaleFactor. Run it with
// FOLIO_MEASURE=1 OMP_THREAD_LIMIT=1 go test -run MeasureUpscale -v ./ocr/
func TestMeasureUpscale(t *testing.T) {
	if os.Getenv("FOLIO_MEASURE") == "" {
		t.Skip("set FOLIO_MEASURE=1 to run (about 2 minutes)")
	}
	e := newEngine(t)
	want := textmetric.Normalize(strings.Join(append(append([]string{}, prose...), prose[3:]...), "\n"))
	orig := upscaleFactor
	defer func() { upscaleFactor = orig }()
	for _, pt := range []float64{10, 8} {
		for _, d := range []int{100, 150, 200} {
			for _, bil := range []bool{false, true} {
				g := scanned(t, append(append([]string{}, prose...), prose[3:]...), d, pt, uint64(d))
				if bil {
					g = threshold(g)
				}
				im := toImage(t, g)
				row := fmt.Sprintf("%4.0fpt %3d dpi bilevel=%-5v", pt, d, bil)
				for _, s := range []float64{1, 1.5, 2, 3} {
					upscaleFactor = func(int) float64 { return s }
					start := time.Now()
					ta, err := e.Recognize(context.Background(), im, Options{DPI: d})
					if err != nil {
						t.Fatal(err)
					}
					cer := textmetric.CER(want, textmetric.Normalize(ta.Text))
					row += fmt.Sprintf(" | x%.1f CER %5.2f%% %4dms", s, 100*cer, time.Since(start).Milliseconds())
				}
				t.Log(row)
			}
		}
	}
}
