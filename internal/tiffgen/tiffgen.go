// Package tiffgen writes small TIFF files byte by byte, with whatever tags a
// test wants, for the TIFF variants no tool writes: old-style JPEG, CCITT
// RLE, a compression libtiff lacks, an orientation or photometric set by
// hand. It also renders known text into a page, so that tests can check
// OCR against ground truth. It needs no external tools.
package tiffgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"sort"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Field types of tag values.
const (
	Short    = 3
	Long     = 4
	Rational = 5 // Values holds numerator, denominator pairs
)

// Tag numbers that tests set.
const (
	TagCompression     = 259
	TagPhotometric     = 262
	TagOrientation     = 274
	TagBitsPerSample   = 258
	TagSamplesPerPixel = 277
	TagExtraSamples    = 338
	TagXResolution     = 282
	TagYResolution     = 283
	TagResolutionUnit  = 296
	TagRowsPerStrip    = 278
	tagImageWidth      = 256
	tagImageLength     = 257
	tagStripOffsets    = 273
	tagStripByteCounts = 279
	tagJPEGIF          = 513 // JPEGInterchangeFormat
	tagJPEGIFLength    = 514
)

// Tag is one directory entry.
type Tag struct {
	ID, Type uint16
	Values   []uint32
}

// Page is one image file directory and its pixel data.
type Page struct {
	Width, Height int
	// Tags besides ImageWidth, ImageLength, StripOffsets and
	// StripByteCounts, which Encode writes.
	Tags []Tag
	// Strips are the page's data, as the Compression tag says; each holds
	// RowsPerStrip rows (one strip: all of them).
	Strips [][]byte
	// JPEGInterchange adds the old-style JPEG tags JPEGInterchangeFormat
	// and JPEGInterchangeFormatLength, pointing at the first strip.
	JPEGInterchange bool
}

// Set returns p with tag id set to values, replacing any value it had.
func (p Page) Set(id, typ uint16, values ...uint32) Page {
	tags := make([]Tag, 0, len(p.Tags)+1)
	for _, t := range p.Tags {
		if t.ID != id {
			tags = append(tags, t)
		}
	}
	p.Tags = append(tags, Tag{ID: id, Type: typ, Values: values})
	return p
}

// base is an uncompressed page of w×h pixels at 300 dpi.
func base(w, h int, data []byte) Page {
	return Page{Width: w, Height: h, Strips: [][]byte{data}, Tags: []Tag{
		{TagCompression, Short, []uint32{1}},
		{TagXResolution, Rational, []uint32{300, 1}},
		{TagYResolution, Rational, []uint32{300, 1}},
		{TagResolutionUnit, Short, []uint32{2}},
		{TagRowsPerStrip, Long, []uint32{uint32(h)}},
	}}
}

// Gray is img as an uncompressed 8-bit MinIsBlack page at 300 dpi.
func Gray(img *image.Gray) Page {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	data := make([]byte, 0, w*h)
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		data = append(data, img.Pix[img.PixOffset(img.Rect.Min.X, y):][:w]...)
	}
	return base(w, h, data).
		Set(TagPhotometric, Short, 1).Set(TagBitsPerSample, Short, 8).Set(TagSamplesPerPixel, Short, 1)
}

// Bilevel is img thresholded at half gray as an uncompressed 1-bit page at
// 300 dpi: photometric MinIsWhite (0, a fax's: 1 is black) or MinIsBlack
// (1: 1 is white).
func Bilevel(img *image.Gray, minIsBlack bool) Page {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	stride := (w + 7) / 8
	data := make([]byte, stride*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			white := img.GrayAt(img.Rect.Min.X+x, img.Rect.Min.Y+y).Y >= 128
			if white == minIsBlack {
				data[y*stride+x/8] |= 0x80 >> (x % 8)
			}
		}
	}
	photo := uint32(0)
	if minIsBlack {
		photo = 1
	}
	return base(w, h, data).
		Set(TagPhotometric, Short, photo).Set(TagBitsPerSample, Short, 1).Set(TagSamplesPerPixel, Short, 1)
}

// Encode returns a little-endian classic TIFF file holding pages in order.
func Encode(pages ...Page) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	b.WriteString("II*\x00\x00\x00\x00\x00")
	next := 4 // where the offset of the next directory goes
	align := func() {
		if b.Len()%2 == 1 {
			b.WriteByte(0)
		}
	}
	for _, p := range pages {
		var offs, counts []uint32
		for _, s := range p.Strips {
			align()
			offs = append(offs, uint32(b.Len()))
			counts = append(counts, uint32(len(s)))
			b.Write(s)
		}
		tags := p.Set(tagImageWidth, Long, uint32(p.Width)).Set(tagImageLength, Long, uint32(p.Height)).
			Set(tagStripOffsets, Long, offs...).Set(tagStripByteCounts, Long, counts...)
		if p.JPEGInterchange && len(offs) > 0 {
			tags = tags.Set(tagJPEGIF, Long, offs[0]).Set(tagJPEGIFLength, Long, counts[0])
		}
		sort.Slice(tags.Tags, func(i, j int) bool { return tags.Tags[i].ID < tags.Tags[j].ID })
		// Values longer than 4 bytes go before the directory.
		inline := make([][]byte, len(tags.Tags))
		for i, t := range tags.Tags {
			var v []byte
			for _, x := range t.Values {
				if t.Type == Short {
					v = le.AppendUint16(v, uint16(x))
				} else {
					v = le.AppendUint32(v, x)
				}
			}
			if len(v) > 4 {
				align()
				off := b.Len()
				b.Write(v)
				v = le.AppendUint32(nil, uint32(off))
			}
			inline[i] = append(v, make([]byte, 4-len(v))...)
		}
		align()
		dir := b.Len()
		le.PutUint32(b.Bytes()[next:], uint32(dir))
		b.Write(le.AppendUint16(nil, uint16(len(tags.Tags))))
		for i, t := range tags.Tags {
			n := len(t.Values)
			if t.Type == Rational {
				n /= 2
			}
			e := le.AppendUint16(nil, t.ID)
			e = le.AppendUint16(e, t.Type)
			e = le.AppendUint32(e, uint32(n))
			b.Write(append(e, inline[i]...))
		}
		next = b.Len()
		b.Write(make([]byte, 4))
	}
	return b.Bytes()
}

// Orient returns the stored image of a page with TIFF orientation o (1 to
// 8) that a viewer shows as img: img transformed by the inverse of o's
// display transform.
func Orient(img *image.Gray, o int) *image.Gray {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	at := func(x, y int) uint8 { return img.GrayAt(img.Rect.Min.X+x, img.Rect.Min.Y+y).Y }
	// src maps a stored pixel (x, y) to the displayed pixel it shows as.
	var sw, sh int
	var src func(x, y int) (int, int)
	switch o {
	case 2: // column 0 on the right: mirrored
		sw, sh, src = w, h, func(x, y int) (int, int) { return w - 1 - x, y }
	case 3: // turned half a turn
		sw, sh, src = w, h, func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }
	case 4: // row 0 at the bottom: flipped
		sw, sh, src = w, h, func(x, y int) (int, int) { return x, h - 1 - y }
	case 5: // transposed
		sw, sh, src = h, w, func(x, y int) (int, int) { return y, x }
	case 6: // row 0 on the right: shown turned a quarter turn clockwise
		sw, sh, src = h, w, func(x, y int) (int, int) { return w - 1 - y, x }
	case 7: // transversed
		sw, sh, src = h, w, func(x, y int) (int, int) { return w - 1 - y, h - 1 - x }
	case 8: // row 0 on the left: shown turned a quarter turn counter-clockwise
		sw, sh, src = h, w, func(x, y int) (int, int) { return y, h - 1 - x }
	default:
		sw, sh, src = w, h, func(x, y int) (int, int) { return x, y }
	}
	out := image.NewGray(image.Rect(0, 0, sw, sh))
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			out.Pix[y*out.Stride+x] = at(src(x, y))
		}
	}
	return out
}

// Text renders lines black on white in Go Regular at size pixels (about
// 9.6 pt at 300 dpi for 40), with a margin of size pixels.
func Text(size float64, lines ...string) (*image.Gray, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("tiffgen: %w", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("tiffgen: %w", err)
	}
	defer face.Close()
	margin, lineH := int(size), int(size*1.5)
	w := 0
	for _, l := range lines {
		w = max(w, font.MeasureString(face, l).Ceil())
	}
	img := image.NewGray(image.Rect(0, 0, w+2*margin, 2*margin+len(lines)*lineH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(margin, margin+i*lineH+int(size))
		d.DrawString(l)
	}
	return img, nil
}
