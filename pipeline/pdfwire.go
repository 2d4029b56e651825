package pipeline

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"slices"

	"github.com/folio-ocr/folio/rpcerr"
)

// The wire between a worker and its PDFium child processes (pdfproc.go,
// pdfchild.go): one request at a time, each answered by one response, as
// frames of a 4-byte little-endian length followed by that many bytes. A
// request's first byte is its op; a response's first byte is respOK,
// followed by the op's result, or respErr, followed by an error kind and
// message.
const (
	opOpen   byte = 'o' // path → page count
	opPage   byte = 'p' // page number → Page
	opRaster byte = 'r' // page number, DPI, max pixels → Raster
	opClose  byte = 'c' // → nothing
	opFonts  byte = 'f' // page numbers → Fonts

	respOK  byte = 0
	respErr byte = 1
	// respReady is the child's first frame, once PDFium is compiled.
	respReady byte = 2
)

// maxFrame bounds a frame: the largest raster (MaxPixels gray pixels, or an
// embedded JPEG) with room to spare.
const maxFrame = 1<<31 - 1

// Error kinds: which sentinel an error the child reports wraps.
const (
	kindOther byte = iota
	kindInvalid
	kindEncrypted
	kindUnsupported
	kindPanic
)

// errorKind is the kind of err.
func errorKind(err error) byte {
	switch {
	case errors.Is(err, rpcerr.ErrPanic):
		return kindPanic
	case errors.Is(err, ErrEncrypted):
		return kindEncrypted
	case errors.Is(err, ErrInvalidInput):
		return kindInvalid
	case errors.Is(err, ErrUnsupported):
		return kindUnsupported
	}
	return kindOther
}

// childError is an error reported by a child process: its message as the
// child wrote it, wrapping the sentinel of its kind so that errors.Is and
// rpcerr.Code see what they would have seen in the worker.
type childError struct {
	msg   string
	cause error // a sentinel, a *rpcerr.PanicError, or nil
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.cause }

// newChildError rebuilds an error of kind from its message.
func newChildError(kind byte, msg string) error {
	var cause error
	switch kind {
	case kindInvalid:
		cause = ErrInvalidInput
	case kindEncrypted:
		cause = ErrEncrypted
	case kindUnsupported:
		cause = ErrUnsupported
	case kindPanic:
		cause = &rpcerr.PanicError{Value: "in the pdfium child process: " + msg}
	}
	return &childError{msg: msg, cause: cause}
}

// writeFrame writes b as one frame and flushes w.
func writeFrame(w *bufio.Writer, b []byte) error {
	if len(b) > maxFrame {
		return fmt.Errorf("frame of %d bytes is over the limit", len(b))
	}
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Flush()
}

// readFrame reads one frame into buf, grown as needed, and returns it.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return buf, err
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size == 0 || size > maxFrame {
		return buf, fmt.Errorf("frame of %d bytes", size)
	}
	if uint32(cap(buf)) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	return buf, nil
}

// wireReader decodes the fields of a frame; the first field that does not
// fit sets err, and every later read returns zero.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errors.New("truncated frame")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *wireReader) byte() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *wireReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *wireReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *wireReader) f64() float64 { return math.Float64frombits(r.u64()) }

func (r *wireReader) bytes() []byte { return r.take(int(r.u32())) }

func (r *wireReader) string() string { return string(r.bytes()) }

// done returns the first error, or an error if bytes are left over.
func (r *wireReader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes left over in frame", len(r.b))
	}
	return r.err
}

func appendU32(b []byte, v uint32) []byte  { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte  { return binary.LittleEndian.AppendUint64(b, v) }
func appendF64(b []byte, v float64) []byte { return appendU64(b, math.Float64bits(v)) }

func appendBytes(b, v []byte) []byte { return append(appendU32(b, uint32(len(v))), v...) }

func appendString(b []byte, v string) []byte { return append(appendU32(b, uint32(len(v))), v...) }

// charWireSize is the bytes of one Char on the wire.
const charWireSize = 4 + 5*8

// appendPage appends p.
func appendPage(b []byte, p *Page) []byte {
	b = appendU32(b, uint32(p.Number))
	b = appendF64(b, p.Width)
	b = appendF64(b, p.Height)
	b = appendF64(b, p.ImageCover)
	b = appendF64(b, p.InvisibleText)
	b = appendU32(b, uint32(p.Unmapped))
	b = appendU32(b, uint32(len(p.Chars)))
	b = slices.Grow(b, len(p.Chars)*charWireSize)
	for _, c := range p.Chars {
		b = appendU32(b, uint32(c.Rune))
		b = appendF64(b, c.Box.Left)
		b = appendF64(b, c.Box.Bottom)
		b = appendF64(b, c.Box.Right)
		b = appendF64(b, c.Box.Top)
		b = appendF64(b, c.Angle)
	}
	return b
}

// appendFonts encodes f, which may be nil.
func appendFonts(b []byte, f *Fonts) []byte {
	if f == nil {
		return append(b, 0)
	}
	b = appendU32(append(b, 1), uint32(len(f.Sizes)))
	for _, s := range f.Sizes {
		b = appendF64(b, s)
	}
	b = appendF64(appendF64(appendF64(b, f.XHeight), f.Ascent), f.Descent)
	b = appendU32(b, uint32(len(f.Styles)))
	for _, s := range f.Styles {
		b = appendF64(appendF64(b, s.Size), s.XHeight)
	}
	return b
}

// decodeFonts decodes what appendFonts wrote.
func decodeFonts(b []byte) (*Fonts, error) {
	r := &wireReader{b: b}
	switch r.byte() {
	case 0:
		return nil, r.done()
	case 1:
	default:
		return nil, fmt.Errorf("bad fonts from the pdfium process: % x", b[:min(len(b), 8)])
	}
	n := int(r.u32())
	if n > len(b)/8 {
		return nil, fmt.Errorf("bad fonts from the pdfium process: %d sizes in %d bytes", n, len(b))
	}
	f := &Fonts{Sizes: make([]float64, n)}
	for i := range f.Sizes {
		f.Sizes[i] = r.f64()
	}
	f.XHeight, f.Ascent, f.Descent = r.f64(), r.f64(), r.f64()
	if n := int(r.u32()); n > 0 {
		if n > len(b)/16 {
			return nil, fmt.Errorf("bad fonts from the pdfium process: %d styles in %d bytes", n, len(b))
		}
		f.Styles = make([]Style, n)
		for i := range f.Styles {
			s := Style{Size: r.f64(), XHeight: r.f64()}
			if !finite(s.Size, s.XHeight) || s.Size <= 0 || s.XHeight <= 0 {
				return nil, fmt.Errorf("bad fonts from the pdfium process: style %+v", s)
			}
			f.Styles[i] = s
		}
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("bad fonts from the pdfium process: %w", err)
	}
	return f, nil
}

// decodePage decodes a page that appendPage wrote.
func decodePage(b []byte) (*Page, error) {
	r := &wireReader{b: b}
	p := &Page{Number: int(r.u32()), Width: r.f64(), Height: r.f64(), ImageCover: r.f64(),
		InvisibleText: r.f64(), Unmapped: int(r.u32())}
	n := int(r.u32())
	if r.err == nil && n > len(r.b)/charWireSize {
		return nil, fmt.Errorf("page of %d characters in a frame of %d bytes", n, len(b))
	}
	p.Chars = make([]Char, n)
	for i := range p.Chars {
		c := &p.Chars[i]
		c.Rune = rune(r.u32())
		c.Box = Rect{Left: r.f64(), Bottom: r.f64(), Right: r.f64(), Top: r.f64()}
		c.Angle = r.f64()
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("page: %w", err)
	}
	return p, nil
}

// appendRaster appends a raster of a PDF page: gray pixels or an encoded
// image (a TIFF page on disk is never sent).
func appendRaster(b []byte, r *Raster) []byte {
	b = appendF64(b, r.DPI)
	b = append(b, byte(r.Turn&3))
	if r.Gray == nil {
		b = append(b, 0)
		return appendBytes(b, r.Data)
	}
	g := r.Gray
	w, h := g.Rect.Dx(), g.Rect.Dy()
	b = append(b, 1)
	b = appendU32(b, uint32(w))
	b = appendU32(b, uint32(h))
	for y := 0; y < h; y++ {
		off := g.PixOffset(g.Rect.Min.X, g.Rect.Min.Y+y)
		b = append(b, g.Pix[off:off+w]...)
	}
	return b
}

// decodeRaster decodes a raster that appendRaster wrote.
func decodeRaster(b []byte) (*Raster, error) {
	r := &wireReader{b: b}
	out := &Raster{DPI: r.f64(), Turn: int(r.byte() & 3)}
	if r.byte() == 0 {
		out.Data = append([]byte(nil), r.bytes()...)
	} else {
		w, h := int(r.u32()), int(r.u32())
		if r.err == nil && (w < 1 || h < 1 || uint64(w)*uint64(h) != uint64(len(r.b))) {
			return nil, fmt.Errorf("raster: %d×%d pixels in %d bytes", w, h, len(r.b))
		}
		pix := r.take(w * h)
		if r.err == nil {
			out.Gray = &image.Gray{Pix: append([]byte(nil), pix...), Stride: w, Rect: image.Rect(0, 0, w, h)}
		}
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("raster: %w", err)
	}
	return out, nil
}
