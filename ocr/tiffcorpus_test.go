package ocr

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/folio-ocr/folio/internal/textmetric"
	"github.com/folio-ocr/folio/internal/tiffgen"
	"github.com/folio-ocr/folio/pipeline"
)

// corpusLines are the text of every page of the TIFF corpus.
var corpusLines = []string{"The quick brown fox jumps", "over the lazy dog 1234."}

// tiffCorpus makes the variants of one upright page of corpusLines in a
// temporary directory: with ImageMagick's convert and libtiff's tiffcp and
// tiffset (scripts/deps.sh test installs both), and with tiffgen for what
// no tool writes.
type tiffCorpus struct {
	t       *testing.T
	dir     string
	upright *image.Gray
}

func newTIFFCorpus(t *testing.T) *tiffCorpus {
	t.Helper()
	img, err := tiffgen.Text(40, corpusLines...)
	if err != nil {
		t.Fatal(err)
	}
	c := &tiffCorpus{t: t, dir: t.TempDir(), upright: img}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	c.write("src.png", b.Bytes())
	c.write("bw.tif", tiffgen.Encode(tiffgen.Bilevel(img, false)))
	return c
}

func (c *tiffCorpus) write(name string, data []byte) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// run runs a tool in the corpus directory, skipping the test without it.
func (c *tiffCorpus) run(tool string, args ...string) {
	c.t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		c.t.Skipf("%s not installed (scripts/deps.sh test installs it)", tool)
	}
	cmd := exec.Command(tool, args...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

// convert makes out from the upright page with ImageMagick at 300 dpi.
func (c *tiffCorpus) convert(out string, args ...string) string {
	c.t.Helper()
	args = append(append([]string{"src.png", "-units", "PixelsPerInch", "-density", "300"}, args...), out)
	c.run("convert", args...)
	return filepath.Join(c.dir, out)
}

// tiffcp copies in to out with tiffcp's options; a codec this libtiff
// cannot write skips the test.
func (c *tiffCorpus) tiffcp(in, out string, opts ...string) string {
	c.t.Helper()
	if _, err := exec.LookPath("tiffcp"); err != nil {
		c.t.Skip("tiffcp not installed (libtiff-tools; scripts/deps.sh test installs it)")
	}
	cmd := exec.Command("tiffcp", append(append(opts, in), out)...)
	cmd.Dir = c.dir
	if outb, err := cmd.CombinedOutput(); err != nil {
		if bytes.Contains(outb, []byte("not configured")) || bytes.Contains(outb, []byte("Unknown compression")) {
			c.t.Skipf("this libtiff cannot write %v: %s", opts, outb)
		}
		c.t.Fatalf("tiffcp %v %s %s: %v\n%s", opts, in, out, err, outb)
	}
	return filepath.Join(c.dir, out)
}

// gray8 is the upright page as uncompressed 8-bit gray, by convert.
func (c *tiffCorpus) gray8() string {
	return c.convert("g8.tif", "-type", "Grayscale", "-depth", "8", "-compress", "None")
}

// rgb is the upright page as uncompressed 8-bit RGB, by convert.
func (c *tiffCorpus) rgb() string {
	return c.convert("rgb.tif", "-type", "TrueColor", "-depth", "8", "-compress", "None")
}

// hand writes pages built with tiffgen.
func (c *tiffCorpus) hand(name string, pages ...tiffgen.Page) string {
	return c.write(name, tiffgen.Encode(pages...))
}

// oriented is the page stored so that orientation o shows it upright.
func (c *tiffCorpus) oriented(o int) tiffgen.Page {
	return tiffgen.Gray(tiffgen.Orient(c.upright, o)).Set(tiffgen.TagOrientation, tiffgen.Short, uint32(o))
}

// stripOf returns the one strip of the first page of a little-endian
// classic TIFF.
func stripOf(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if string(data[:4]) != "II*\x00" {
		t.Fatalf("%s: not a little-endian TIFF", path)
	}
	dir := le.Uint32(data[4:])
	n := int(le.Uint16(data[dir:]))
	var off, count uint32
	for i := range n {
		e := data[int(dir)+2+12*i:]
		v := le.Uint32(e[8:])
		if le.Uint16(e[2:]) == tiffgen.Short {
			v = uint32(le.Uint16(e[8:]))
		}
		if le.Uint32(e[4:]) != 1 && (le.Uint16(e) == 273 || le.Uint16(e) == 279) {
			t.Fatalf("%s: more than one strip", path)
		}
		switch le.Uint16(e) {
		case 273:
			off = v
		case 279:
			count = v
		}
	}
	return data[off : off+count]
}

// g3ToRLE turns CCITT G3 1D data without fill bits (an EOL, eleven 0s and
// a 1, before every row, then six EOLs) into CCITT RLE (compression 2):
// the same Modified Huffman rows, without EOLs, each starting on a byte.
func g3ToRLE(g3 []byte, rows int) []byte {
	var out []byte
	var cur byte
	nbits := 0
	put := func(bit byte) {
		cur = cur<<1 | bit
		if nbits++; nbits == 8 {
			out, cur, nbits = append(out, cur), 0, 0
		}
	}
	flush := func() {
		for nbits != 0 {
			put(0)
		}
	}
	var row []byte // the bits since the last EOL
	done := -1     // rows finished; the first EOL starts row 0
	for i := 0; i < 8*len(g3) && done < rows; i++ {
		bit := g3[i/8] >> (7 - i%8) & 1
		row = append(row, bit)
		if bit != 1 || len(row) < 12 || !bytes.Equal(row[len(row)-12:], eol) {
			continue
		}
		if done >= 0 {
			for _, b := range row[:len(row)-12] {
				put(b)
			}
			flush()
		}
		done++
		row = row[:0]
	}
	return out
}

var eol = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}

// ojpeg is an old-style JPEG page (compression 6): a whole JFIF stream
// that JPEGInterchangeFormat points at, as Windows imaging and old
// scanners wrote them.
func ojpeg(t *testing.T, img image.Image, photometric, spp uint32) tiffgen.Page {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	bounds := img.Bounds()
	p := tiffgen.Gray(image.NewGray(bounds))
	p.Strips = [][]byte{b.Bytes()}
	p.JPEGInterchange = true
	p = p.Set(tiffgen.TagCompression, tiffgen.Short, 6).Set(tiffgen.TagPhotometric, tiffgen.Short, photometric).
		Set(tiffgen.TagSamplesPerPixel, tiffgen.Short, spp)
	if spp == 3 {
		p = p.Set(tiffgen.TagBitsPerSample, tiffgen.Short, 8, 8, 8).Set(530, tiffgen.Short, 2, 2) // YCbCrSubsampling 4:2:0
	}
	return p
}

// samples returns the upright page as interleaved 8-bit samples, each
// pixel mapped by f.
func (c *tiffCorpus) samples(f func(v uint8) []byte) []byte {
	var out []byte
	for _, v := range c.upright.Pix {
		out = append(out, f(v)...)
	}
	return out
}

// tiffCase is one variant: how to make it and what reading page 0 gives.
type tiffCase struct {
	name string
	make func(c *tiffCorpus) string
	// err is a substring of the error the page must give, wrapping
	// ErrFormat; empty for a page that reads as the upright page.
	err string
	// pixelsOnly skips OCR: the pixels alone show the page upright.
	pixelsOnly bool
}

// orientedKinds make the page, stored for orientation o, in other pixel
// formats than 8-bit gray: Leptonica and libtiff read each differently.
var orientedKinds = map[string]func(c *tiffCorpus, o int) tiffgen.Page{
	"bilevel": func(c *tiffCorpus, o int) tiffgen.Page {
		return tiffgen.Bilevel(tiffgen.Orient(c.upright, o), false).Set(tiffgen.TagOrientation, tiffgen.Short, uint32(o))
	},
	"RGB": func(c *tiffCorpus, o int) tiffgen.Page {
		p := c.oriented(o)
		var rgb []byte
		for _, v := range p.Strips[0] {
			rgb = append(rgb, v, v, v)
		}
		p.Strips[0] = rgb
		return p.Set(tiffgen.TagPhotometric, tiffgen.Short, 2).Set(tiffgen.TagSamplesPerPixel, tiffgen.Short, 3).
			Set(tiffgen.TagBitsPerSample, tiffgen.Short, 8, 8, 8)
	},
	"palette": func(c *tiffCorpus, o int) tiffgen.Page {
		cmap := make([]uint32, 3*256)
		for i := range 256 {
			cmap[i], cmap[256+i], cmap[512+i] = uint32(i*257), uint32(i*257), uint32(i*257)
		}
		return c.oriented(o).Set(tiffgen.TagPhotometric, tiffgen.Short, 3).Set(320, tiffgen.Short, cmap...)
	},
}

func init() {
	for _, kind := range []string{"bilevel", "RGB", "palette"} {
		for o := 2; o <= 8; o++ {
			tiffCases = append(tiffCases, tiffCase{
				name: fmt.Sprintf("orientation %d %s", o, kind), pixelsOnly: true,
				make: func(c *tiffCorpus) string { return c.hand("out.tif", orientedKinds[kind](c, o)) },
			})
		}
	}
}

var tiffCases = []tiffCase{
	// Compression, on 8-bit gray.
	{name: "none", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-c", "none") }},
	{name: "PackBits", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-c", "packbits") }},
	{name: "LZW", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-c", "lzw") }},
	{name: "LZW predictor", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-c", "lzw:2") }},
	{name: "Deflate 8", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-c", "zip") }},
	{name: "Deflate 32946", make: func(c *tiffCorpus) string {
		p := tiffgen.Gray(c.upright)
		var b bytes.Buffer
		z := zlib.NewWriter(&b)
		z.Write(p.Strips[0])
		z.Close()
		p.Strips[0] = b.Bytes()
		return c.hand("out.tif", p.Set(tiffgen.TagCompression, tiffgen.Short, 32946))
	}},
	{name: "JPEG gray", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-r", "16", "-c", "jpeg") }},
	{name: "LZMA", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-c", "lzma") }},
	{name: "LERC", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-c", "lerc") }},
	{name: "ZSTD", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-c", "zstd") }},
	// Old-style JPEG, gray and YCbCr.
	{name: "OJPEG gray", make: func(c *tiffCorpus) string { return c.hand("out.tif", ojpeg(c.t, c.upright, 1, 1)) }},
	{name: "OJPEG YCbCr", make: func(c *tiffCorpus) string {
		rgb := image.NewRGBA(c.upright.Rect)
		for i, v := range c.upright.Pix {
			copy(rgb.Pix[4*i:], []byte{v, v, v, 255})
		}
		return c.hand("out.tif", ojpeg(c.t, rgb, 6, 3))
	}},
	// Compression of bilevel pages (MinIsWhite, as faxes are).
	{name: "CCITT RLE", make: func(c *tiffCorpus) string {
		g3 := stripOf(c.t, c.tiffcp("bw.tif", "g3.tif", "-c", "g3:1d", "-r", "1000000"))
		p := tiffgen.Bilevel(c.upright, false)
		p.Strips[0] = g3ToRLE(g3, p.Height)
		return c.hand("out.tif", p.Set(tiffgen.TagCompression, tiffgen.Short, 2))
	}},
	{name: "G3 1D", make: func(c *tiffCorpus) string { return c.tiffcp("bw.tif", "out.tif", "-c", "g3:1d") }},
	{name: "G3 1D fill", make: func(c *tiffCorpus) string { return c.tiffcp("bw.tif", "out.tif", "-c", "g3:1d:fill") }},
	{name: "G3 2D", make: func(c *tiffCorpus) string { return c.tiffcp("bw.tif", "out.tif", "-c", "g3:2d") }},
	{name: "G4", make: func(c *tiffCorpus) string { return c.tiffcp("bw.tif", "out.tif", "-c", "g4") }},
	{name: "JBIG", make: func(c *tiffCorpus) string { return c.tiffcp("bw.tif", "out.tif", "-c", "jbig") }},
	{name: "bilevel PackBits", make: func(c *tiffCorpus) string { return c.tiffcp("bw.tif", "out.tif", "-c", "packbits") }},
	// Compression of RGB pages.
	{name: "JPEG YCbCr", make: func(c *tiffCorpus) string { return c.tiffcp(c.rgb(), "out.tif", "-r", "16", "-c", "jpeg") }},
	{name: "JPEG RGB", make: func(c *tiffCorpus) string { return c.tiffcp(c.rgb(), "out.tif", "-r", "16", "-c", "jpeg:r") }},
	{name: "WebP", make: func(c *tiffCorpus) string { return c.tiffcp(c.rgb(), "out.tif", "-c", "webp") }},
	// Codecs libtiff lacks: named.
	{name: "JPEG 2000", err: "TIFF page 1: compression JPEG 2000 (34712) is not supported", make: func(c *tiffCorpus) string {
		return c.hand("out.tif", tiffgen.Gray(c.upright).Set(tiffgen.TagCompression, tiffgen.Short, 34712))
	}},
	{name: "unknown codec", err: "TIFF page 1: compression unknown (65000) is not supported", make: func(c *tiffCorpus) string {
		return c.hand("out.tif", tiffgen.Gray(c.upright).Set(tiffgen.TagCompression, tiffgen.Short, 65000))
	}},
	{name: "no pixels", err: "TIFF page 1: ", make: func(c *tiffCorpus) string {
		p := tiffgen.Gray(c.upright)
		p.Width = 0
		return c.hand("out.tif", p)
	}},
	{name: "floating point", err: "TIFF page 1: cannot decode 32-bit floating-point MinIsBlack, compression none (1): ", make: func(c *tiffCorpus) string {
		p := tiffgen.Gray(c.upright)
		p.Strips[0] = c.samples(func(v uint8) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(v)/255)) })
		return c.hand("out.tif", p.Set(tiffgen.TagBitsPerSample, tiffgen.Short, 32).Set(339, tiffgen.Short, 3)) // SampleFormat IEEEFP
	}},
	{name: "strip cut short", make: func(c *tiffCorpus) string {
		// The strip lacks its last five rows: the rest is read, as viewers
		// show it.
		p := tiffgen.Gray(c.upright)
		p.Strips[0] = p.Strips[0][:len(p.Strips[0])-5*p.Width]
		return c.hand("out.tif", p)
	}},
	// Pixel formats.
	{name: "gray 16-bit", make: func(c *tiffCorpus) string {
		return c.convert("out.tif", "-type", "Grayscale", "-depth", "16", "-compress", "None")
	}},
	{name: "RGB 16-bit", make: func(c *tiffCorpus) string {
		return c.convert("out.tif", "-type", "TrueColor", "-depth", "16", "-compress", "LZW")
	}},
	{name: "gray 4-bit", make: func(c *tiffCorpus) string {
		return c.convert("out.tif", "-type", "Grayscale", "-depth", "4", "-compress", "None")
	}},
	{name: "gray 2-bit", make: func(c *tiffCorpus) string {
		return c.convert("out.tif", "-type", "Grayscale", "-depth", "2", "-compress", "None")
	}},
	{name: "palette", make: func(c *tiffCorpus) string {
		return c.convert("out.tif", "-type", "Palette", "-compress", "LZW")
	}},
	{name: "bilevel MinIsWhite", make: func(c *tiffCorpus) string { return c.hand("out.tif", tiffgen.Bilevel(c.upright, false)) }},
	{name: "bilevel MinIsBlack", make: func(c *tiffCorpus) string { return c.hand("out.tif", tiffgen.Bilevel(c.upright, true)) }},
	{name: "gray MinIsWhite", make: func(c *tiffCorpus) string {
		p := tiffgen.Gray(c.upright)
		p.Strips[0] = c.samples(func(v uint8) []byte { return []byte{255 - v} })
		return c.hand("out.tif", p.Set(tiffgen.TagPhotometric, tiffgen.Short, 0))
	}},
	{name: "CMYK", make: func(c *tiffCorpus) string {
		return c.convert("out.tif", "-colorspace", "CMYK", "-compress", "LZW")
	}},
	{name: "YCbCr", make: func(c *tiffCorpus) string {
		p := tiffgen.Gray(c.upright)
		p.Strips[0] = c.samples(func(v uint8) []byte { return []byte{v, 128, 128} })
		return c.hand("out.tif", p.Set(tiffgen.TagPhotometric, tiffgen.Short, 6).
			Set(tiffgen.TagSamplesPerPixel, tiffgen.Short, 3).Set(tiffgen.TagBitsPerSample, tiffgen.Short, 8, 8, 8).
			Set(530, tiffgen.Short, 1, 1)) // YCbCrSubsampling: none
	}},
	{name: "CIELab", make: func(c *tiffCorpus) string {
		return c.convert("out.tif", "-colorspace", "Lab", "-compress", "None")
	}},
	{name: "RGBA", make: func(c *tiffCorpus) string {
		return c.convert("out.tif", "-type", "TrueColorAlpha", "-compress", "LZW")
	}},
	{name: "gray and alpha", make: func(c *tiffCorpus) string {
		return c.convert("out.tif", "-type", "GrayscaleAlpha", "-compress", "LZW")
	}},
	{name: "black ink on transparency", make: func(c *tiffCorpus) string {
		// The text is only in the alpha channel: a viewer shows it on white.
		p := tiffgen.Gray(c.upright)
		p.Strips[0] = c.samples(func(v uint8) []byte { return []byte{0, 0, 0, 255 - v} })
		return c.hand("out.tif", p.Set(tiffgen.TagPhotometric, tiffgen.Short, 2).
			Set(tiffgen.TagSamplesPerPixel, tiffgen.Short, 4).Set(tiffgen.TagBitsPerSample, tiffgen.Short, 8, 8, 8, 8).
			Set(tiffgen.TagExtraSamples, tiffgen.Short, 2)) // unassociated alpha
	}},
	// Layouts.
	{name: "separate planes", make: func(c *tiffCorpus) string { return c.tiffcp(c.rgb(), "out.tif", "-p", "separate", "-c", "lzw") }},
	{name: "tiled gray", make: func(c *tiffCorpus) string {
		return c.tiffcp(c.gray8(), "out.tif", "-t", "-w", "64", "-l", "64", "-c", "zip")
	}},
	{name: "tiled RGB planes", make: func(c *tiffCorpus) string {
		return c.tiffcp(c.rgb(), "out.tif", "-t", "-w", "64", "-l", "64", "-p", "separate")
	}},
	{name: "tiled G4", make: func(c *tiffCorpus) string {
		return c.tiffcp("bw.tif", "out.tif", "-t", "-w", "128", "-l", "128", "-c", "g4")
	}},
	{name: "multi-strip", make: func(c *tiffCorpus) string { return c.tiffcp(c.rgb(), "out.tif", "-r", "7", "-c", "lzw") }},
	{name: "BigTIFF", make: func(c *tiffCorpus) string { return c.tiffcp(c.gray8(), "out.tif", "-8", "-c", "lzw") }},
	{name: "big-endian", make: func(c *tiffCorpus) string { return c.tiffcp(c.rgb(), "out.tif", "-B", "-c", "zip") }},
	{name: "BigTIFF big-endian G4", make: func(c *tiffCorpus) string { return c.tiffcp("bw.tif", "out.tif", "-8", "-B", "-c", "g4") }},
	// Orientation (tag 274): stored turned or mirrored, shown upright.
	{name: "orientation 1", make: func(c *tiffCorpus) string { return c.hand("out.tif", c.oriented(1)) }},
	{name: "orientation 2", make: func(c *tiffCorpus) string { return c.hand("out.tif", c.oriented(2)) }},
	{name: "orientation 3", make: func(c *tiffCorpus) string { return c.hand("out.tif", c.oriented(3)) }},
	{name: "orientation 4", make: func(c *tiffCorpus) string { return c.hand("out.tif", c.oriented(4)) }},
	{name: "orientation 5", make: func(c *tiffCorpus) string { return c.hand("out.tif", c.oriented(5)) }},
	{name: "orientation 6", make: func(c *tiffCorpus) string { return c.hand("out.tif", c.oriented(6)) }},
	{name: "orientation 7", make: func(c *tiffCorpus) string { return c.hand("out.tif", c.oriented(7)) }},
	{name: "orientation 8", make: func(c *tiffCorpus) string { return c.hand("out.tif", c.oriented(8)) }},
	{name: "orientation out of range", make: func(c *tiffCorpus) string {
		// libtiff drops the tag, and viewers show the page as stored.
		return c.hand("out.tif", tiffgen.Gray(c.upright).Set(tiffgen.TagOrientation, tiffgen.Short, 9))
	}},
	{name: "orientation 6 G4 by tiffset", make: func(c *tiffCorpus) string {
		// A fax turned by ImageMagick, tagged by tiffset.
		c.convert("g4.tif", "-rotate", "-90", "-threshold", "50%", "-compress", "Group4")
		c.run("tiffset", "-s", "274", "6", "g4.tif")
		return filepath.Join(c.dir, "g4.tif")
	}},
	{name: "orientation 8 RGB by tiffset", make: func(c *tiffCorpus) string {
		c.convert("rgb8.tif", "-rotate", "90", "-type", "TrueColor", "-compress", "LZW")
		c.run("tiffset", "-s", "274", "8", "rgb8.tif")
		return filepath.Join(c.dir, "rgb8.tif")
	}},
	{name: "orientation 7 tiled", make: func(c *tiffCorpus) string {
		// Tiles go through libtiff's RGBA interface, oriented by Folio.
		c.hand("o7.tif", c.oriented(7))
		return c.tiffcp("o7.tif", "out.tif", "-t", "-w", "64", "-l", "64")
	}},
	{name: "orientation 6 separate planes", make: func(c *tiffCorpus) string {
		c.convert("rgb6.tif", "-rotate", "-90", "-type", "TrueColor", "-compress", "None")
		c.run("tiffset", "-s", "274", "6", "rgb6.tif")
		return c.tiffcp("rgb6.tif", "out.tif", "-p", "separate")
	}},
}

// TestTIFFCorpus reads every variant of the corpus: a readable page must
// come out as a viewer shows it (the upright page's size and resolution,
// its pixels within a few per cent, its text within 4% CER), an unreadable
// one must fail with an error naming the page and the problem.
func TestTIFFCorpus(t *testing.T) {
	e := newEngine(t)
	want := textmetric.Normalize(strings.Join(corpusLines, "\n"))
	for _, tc := range tiffCases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTIFFCorpus(t)
			path := tc.make(c)
			im, err := ReadTIFFPage(path, 0, 0)
			if tc.err != "" {
				if err == nil {
					im.Close()
					t.Fatalf("no error, want one containing %q", tc.err)
				}
				if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %q, want ErrFormat containing %q", err, tc.err)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			checkUpright(t, im, c.upright)
			if r := im.Resolution(); r != 300 {
				t.Errorf("resolution %d, want 300", r)
			}
			if tc.pixelsOnly {
				return
			}
			ta, err := e.Recognize(t.Context(), im, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if cer := textmetric.CER(want, textmetric.Normalize(ta.GetText())); cer > 0.04 {
				t.Errorf("CER %.1f%%, text %q", 100*cer, ta.GetText())
			}
		})
	}
}

// checkUpright checks that im shows want: the same size, and at most 1% of
// pixels darker or lighter by more than half the range (anti-aliased edges
// thresholded or JPEG-compressed stay well under that; a mirrored, turned
// or inverted page is far over).
func checkUpright(t *testing.T, im *Image, want *image.Gray) {
	t.Helper()
	w, h := im.Size()
	if w != want.Rect.Dx() || h != want.Rect.Dy() {
		t.Fatalf("size %dx%d, want %dx%d", w, h, want.Rect.Dx(), want.Rect.Dy())
	}
	got := im.gray8()
	off := 0
	for i, v := range got {
		if d := int(v) - int(want.Pix[i]); d > 128 || d < -128 {
			off++
		}
	}
	if frac := float64(off) / float64(len(got)); frac > 0.01 {
		t.Errorf("%.1f%% of pixels differ from the upright page", 100*frac)
	}
}

// TestTIFFMixedPages reads a file whose pages differ in size, resolution,
// compression, depth and orientation, as one scanner batch merged with
// another does.
func TestTIFFMixedPages(t *testing.T) {
	c := newTIFFCorpus(t)
	c.convert("a.tif", "-type", "Grayscale", "-compress", "LZW")
	c.run("convert", "src.png", "-resize", "150%", "-threshold", "50%", "-units", "PixelsPerInch",
		"-density", "450", "-compress", "Group4", "b.tif")
	c.run("convert", "src.png", "-resize", "200%", "-type", "TrueColor", "-units", "PixelsPerCentimeter",
		"-density", "236.22", "-compress", "JPEG", "c.tif")
	c.hand("d.tif", c.oriented(6))
	c.run("tiffcp", "a.tif", "b.tif", "c.tif", "d.tif", "mixed.tif")
	path := filepath.Join(c.dir, "mixed.tif")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if n, err := pipeline.TIFFPageCount(f, st.Size()); n != 4 || err != nil {
		t.Fatalf("TIFFPageCount = %d, %v; want 4", n, err)
	}
	w, h := c.upright.Rect.Dx(), c.upright.Rect.Dy()
	e := newEngine(t)
	want := textmetric.Normalize(strings.Join(corpusLines, "\n"))
	for i, p := range []struct{ w, h, dpi int }{
		{w, h, 300}, {w * 3 / 2, h * 3 / 2, 450}, {2 * w, 2 * h, 600}, {w, h, 300},
	} {
		im, err := ReadTIFFPage(path, i, 0)
		if err != nil {
			t.Fatalf("page %d: %v", i+1, err)
		}
		gw, gh := im.Size()
		if gw < p.w-1 || gw > p.w+1 || gh < p.h-1 || gh > p.h+1 || im.Resolution() != p.dpi {
			t.Errorf("page %d: %dx%d at %d dpi, want %dx%d at %d", i+1, gw, gh, im.Resolution(), p.w, p.h, p.dpi)
		}
		ta, err := e.Recognize(t.Context(), im, Options{})
		im.Close()
		if err != nil {
			t.Fatal(err)
		}
		if cer := textmetric.CER(want, textmetric.Normalize(ta.GetText())); cer > 0.04 {
			t.Errorf("page %d: CER %.1f%%, text %q", i+1, 100*cer, ta.GetText())
		}
	}
}

// TestTIFFPageErrors checks that one bad page spoils only itself, and
// that errors name the page, numbered from 1.
func TestTIFFPageErrors(t *testing.T) {
	c := newTIFFCorpus(t)
	good := tiffgen.Gray(c.upright)
	path := c.hand("pages.tif", good, good.Set(tiffgen.TagCompression, tiffgen.Short, 34712), c.oriented(6))
	for i, want := range []string{"", "TIFF page 2: compression JPEG 2000 (34712) is not supported", "", "no TIFF page 4: the file has 3"} {
		im, err := ReadTIFFPage(path, i, 0)
		if want == "" {
			if err != nil {
				t.Errorf("page %d: %v", i+1, err)
				continue
			}
			checkUpright(t, im, c.upright)
			im.Close()
			continue
		}
		if err == nil {
			im.Close()
			t.Errorf("page %d: no error, want %q", i+1, want)
		} else if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("page %d: err %q, want ErrFormat containing %q", i+1, err, want)
		}
	}
	if _, err := ReadTIFFPage(path, 0, c.upright.Rect.Dx()*c.upright.Rect.Dy()-1); !errors.Is(err, ErrTooLarge) ||
		!strings.Contains(err.Error(), "TIFF page 1: ") {
		t.Errorf("over the limit: err %v, want ErrTooLarge naming page 1", err)
	}
}
