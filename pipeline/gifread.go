package pipeline

import (
	"bufio"
	"compress/lzw"
	"errors"
	"fmt"
	"image"
	"io"
)

// gifStream reads a GIF frame by frame. Open counts the frames with a cheap
// pass that skips image data undecoded; page composites frames onto one
// gray canvas, keeping it between calls, so reading pages in ascending
// order decodes each frame once and costs one canvas (plus one saved copy
// for "restore to previous" frames) whatever the number of frames.
//
// Frames are drawn as browsers draw them: clipped to the logical screen (a
// frame wholly outside it draws nothing, so its page shows the canvas as the
// earlier frames left it); transparent pixels and pixels a frame does not
// cover show white. GIF colours are opaque or fully transparent, so the
// canvas holds each pixel's gray value directly, with transparent as white.
type gifStream struct {
	r         io.ReadSeeker
	br        *bufio.Reader
	screen    image.Rectangle
	global    []uint8 // gray value per global colour index; nil if none
	dataStart int64   // offset of the first block after the global colour table
	frames    int

	canvas *image.Gray // the page after frame next
	saved  []uint8     // canvas before a DisposalPrevious frame
	next   int         // frames drawn onto canvas
	// Disposal of the last drawn frame, applied before the next one.
	disposal byte
	disposed image.Rectangle
	broken   error // the file's damage at frame next+1: no page past next
	stale    bool  // a read failed or a frame was cut: restart before the next page

	row    []uint8
	local  []uint8 // gray values of the current frame's local colour table
	lzw    io.ReadCloser
	blocks gifBlockReader
}

// GIF block introducers and extension labels.
const (
	gifExtension   = 0x21
	gifImage       = 0x2C
	gifTrailer     = 0x3B
	gifGraphicCtrl = 0xF9
)

var errGIFTruncated = errors.New("truncated")

// openGIFStream reads the header, logical screen descriptor and global
// colour table, checks the screen against maxPixels (if positive), and
// counts the frames. A file with no frame is an error.
func openGIFStream(r io.ReadSeeker, maxPixels int) (*gifStream, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("pipeline: gif: "+format+": %w", append(args, ErrInvalidInput)...)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("pipeline: gif: %w", err)
	}
	s := &gifStream{r: r, br: bufio.NewReaderSize(r, 32<<10)}
	var hdr [13]byte
	if _, err := io.ReadFull(s.br, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, bad("header truncated")
		}
		return nil, fmt.Errorf("pipeline: gif: %w", err)
	}
	if v := string(hdr[:6]); v != "GIF87a" && v != "GIF89a" {
		return nil, bad("not a GIF")
	}
	w, h := int(hdr[6])|int(hdr[7])<<8, int(hdr[8])|int(hdr[9])<<8
	if maxPixels > 0 && int64(w)*int64(h) > int64(maxPixels) {
		return nil, bad("%d×%d pixels, over the limit of %d", w, h, maxPixels)
	}
	off := int64(13)
	if hdr[10]&0x80 != 0 {
		n := 1 << (1 + hdr[10]&7)
		pal, err := readGIFPalette(s.br, n, nil)
		if err != nil {
			return nil, bad("global colour table: %s", err)
		}
		s.global = pal
		off += int64(3 * n)
	}
	s.dataStart = off
	frames, extent, err := countGIFFrames(s.br)
	if err != nil {
		var rerr gifReadError
		if errors.As(err, &rerr) {
			return nil, fmt.Errorf("pipeline: gif: %w", rerr.err)
		}
		if frames == 0 {
			return nil, bad("%s", err)
		}
		// Frames before a damaged block are still pages, as in a
		// browser; a damaged frame is counted and fails as its page.
	}
	if frames == 0 {
		return nil, bad("no frames")
	}
	if w <= 0 || h <= 0 {
		// Some writers leave the logical screen empty: use the frames' extent.
		w, h = max(w, extent.X), max(h, extent.Y)
	}
	if w <= 0 || h <= 0 {
		return nil, bad("empty logical screen")
	}
	if int64(w)*int64(h) > 1<<31-1 || (maxPixels > 0 && int64(w)*int64(h) > int64(maxPixels)) {
		return nil, bad("%d×%d pixels, over the limit of %d", w, h, maxPixels)
	}
	s.screen = image.Rect(0, 0, w, h)
	s.frames = frames
	return s, nil
}

// gifReadError marks an error from the underlying reader (not the file's
// fault).
type gifReadError struct{ err error }

func (e gifReadError) Error() string { return e.err.Error() }

// eofErr turns an end of file into errGIFTruncated and wraps other read
// errors as gifReadError.
func eofErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errGIFTruncated
	}
	return gifReadError{err}
}

// readGIFPalette reads n RGB entries and returns their gray values, in a
// table of 256 (indices past n are black) reusing pal if it has room.
func readGIFPalette(br *bufio.Reader, n int, pal []uint8) ([]uint8, error) {
	var rgb [3 * 256]byte
	if _, err := io.ReadFull(br, rgb[:3*n]); err != nil {
		return nil, eofErr(err)
	}
	if cap(pal) < 256 {
		pal = make([]uint8, 256)
	}
	pal = pal[:256]
	clear(pal[n:])
	for i := range n {
		r, g, b := uint32(rgb[3*i]), uint32(rgb[3*i+1]), uint32(rgb[3*i+2])
		// As color.GrayModel on the 16-bit values, then to 8 bits; equal
		// to flattening an opaque RGBA pixel onto white.
		pal[i] = uint8((19595*r + 38470*g + 7471*b + 1<<15) >> 16)
	}
	return pal, nil
}

// countGIFFrames counts image descriptors up to the trailer or the end of
// the file, skipping extensions and image data without decoding, and
// returns the bottom-right extent of the frames. A frame whose descriptor
// is complete is counted even if its data is cut short.
func countGIFFrames(br *bufio.Reader) (frames int, extent image.Point, err error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return frames, extent, nil // missing trailer
			}
			return frames, extent, gifReadError{err}
		}
		switch b {
		case gifTrailer:
			return frames, extent, nil
		case gifExtension:
			if _, err := br.ReadByte(); err != nil {
				return frames, extent, eofErr(err)
			}
			if err := skipGIFBlocks(br); err != nil {
				return frames, extent, err
			}
		case gifImage:
			var d [9]byte
			if _, err := io.ReadFull(br, d[:]); err != nil {
				return frames, extent, eofErr(err)
			}
			frames++
			left, top := int(d[0])|int(d[1])<<8, int(d[2])|int(d[3])<<8
			w, h := int(d[4])|int(d[5])<<8, int(d[6])|int(d[7])<<8
			extent = image.Pt(max(extent.X, left+w), max(extent.Y, top+h))
			if d[8]&0x80 != 0 {
				if _, err := br.Discard(3 << (1 + d[8]&7)); err != nil {
					return frames, extent, eofErr(err)
				}
			}
			if _, err := br.ReadByte(); err != nil { // LZW minimum code size
				return frames, extent, eofErr(err)
			}
			if err := skipGIFBlocks(br); err != nil {
				return frames, extent, err
			}
		default:
			return frames, extent, fmt.Errorf("unknown block type %#02x", b)
		}
	}
}

// skipGIFBlocks skips data sub-blocks up to and including the terminator.
func skipGIFBlocks(br *bufio.Reader) error {
	for {
		n, err := br.ReadByte()
		if err != nil {
			return eofErr(err)
		}
		if n == 0 {
			return nil
		}
		if _, err := br.Discard(int(n)); err != nil {
			return eofErr(err)
		}
	}
}

// restart rewinds to the first frame with a blank canvas.
func (s *gifStream) restart() error {
	if _, err := s.r.Seek(s.dataStart, io.SeekStart); err != nil {
		return err
	}
	s.br.Reset(s.r)
	if s.canvas == nil {
		s.canvas = image.NewGray(s.screen)
	}
	fillGray(s.canvas.Pix, 0xFF)
	s.next, s.disposal, s.disposed, s.broken, s.stale = 0, 0, image.Rectangle{}, nil, false
	return nil
}

func fillGray(p []uint8, v uint8) {
	for i := range p {
		p[i] = v
	}
}

// page returns the screen as shown at frame n (1-based), flattened onto
// white in gray. The image is the reader's canvas: it changes on the next
// call. Reading an earlier page than the last restarts from the first frame.
func (s *gifStream) page(n int) (*image.Gray, error) {
	if n < 1 || n > s.frames {
		return nil, fmt.Errorf("pipeline: gif page %d: out of range 1..%d", n, s.frames)
	}
	if s.canvas == nil || s.stale || n < s.next {
		if err := s.restart(); err != nil {
			s.stale = true
			return nil, fmt.Errorf("pipeline: gif page %d: %w", n, err)
		}
	}
	for s.next < n {
		if s.broken != nil {
			if s.next+1 == n {
				return nil, s.broken
			}
			return nil, fmt.Errorf("pipeline: gif page %d: after frame %d: %w", n, s.next+1, s.broken)
		}
		if err := s.drawFrame(); err != nil {
			page := s.next + 1
			var rerr gifReadError
			if errors.As(err, &rerr) {
				// Not the file's fault: start again on the next call.
				s.stale = true
				return nil, fmt.Errorf("pipeline: gif page %d: reading frame %d: %w", n, page, rerr.err)
			}
			// The file is damaged at this frame: it and later pages fail;
			// the canvas may hold part of the frame, so an earlier page
			// starts again.
			s.broken = fmt.Errorf("pipeline: gif page %d: %s: %w", page, err, ErrInvalidInput)
			s.stale = true
		}
	}
	return s.canvas, nil
}

// drawFrame applies the last frame's disposal, then reads the blocks up to
// and including the next image and draws it.
func (s *gifStream) drawFrame() error {
	W := s.screen.Dx()
	switch s.disposal {
	case 2: // restore to background: transparent, white here
		for y := s.disposed.Min.Y; y < s.disposed.Max.Y; y++ {
			fillGray(s.canvas.Pix[y*W+s.disposed.Min.X:y*W+s.disposed.Max.X], 0xFF)
		}
	case 3: // restore to previous
		for y := s.disposed.Min.Y; y < s.disposed.Max.Y; y++ {
			copy(s.canvas.Pix[y*W+s.disposed.Min.X:y*W+s.disposed.Max.X], s.saved[y*W+s.disposed.Min.X:])
		}
	}
	s.disposal, s.disposed = 0, image.Rectangle{}
	disposal, transparent := byte(0), -1
	for {
		b, err := s.br.ReadByte()
		if err != nil {
			return eofErr(err)
		}
		switch b {
		case gifTrailer:
			return errGIFTruncated // counted frames end earlier
		case gifExtension:
			label, err := s.br.ReadByte()
			if err != nil {
				return eofErr(err)
			}
			if label == gifGraphicCtrl {
				n, err := s.br.ReadByte()
				if err != nil {
					return eofErr(err)
				}
				if n >= 4 {
					var gce [4]byte
					if _, err := io.ReadFull(s.br, gce[:]); err != nil {
						return eofErr(err)
					}
					disposal, transparent = (gce[0]>>2)&7, -1
					if gce[0]&1 != 0 {
						transparent = int(gce[3])
					}
					n -= 4
				}
				if _, err := s.br.Discard(int(n)); err != nil {
					return eofErr(err)
				}
			}
			if err := skipGIFBlocks(s.br); err != nil {
				return err
			}
		case gifImage:
			return s.drawImage(disposal, transparent)
		default:
			return fmt.Errorf("unknown block type %#02x", b)
		}
	}
}

// drawImage reads an image descriptor, its colour table and data, and
// draws it onto the canvas clipped to the screen.
func (s *gifStream) drawImage(disposal byte, transparent int) error {
	var d [9]byte
	if _, err := io.ReadFull(s.br, d[:]); err != nil {
		return eofErr(err)
	}
	left, top := int(d[0])|int(d[1])<<8, int(d[2])|int(d[3])<<8
	fw, fh := int(d[4])|int(d[5])<<8, int(d[6])|int(d[7])<<8
	pal := s.global
	if d[8]&0x80 != 0 {
		p, err := readGIFPalette(s.br, 1<<(1+d[8]&7), s.local)
		if err != nil {
			return err
		}
		s.local, pal = p, p
	}
	interlaced := d[8]&0x40 != 0
	litWidth, err := s.br.ReadByte()
	if err != nil {
		return eofErr(err)
	}
	if pal == nil {
		return errors.New("no colour table")
	}
	if litWidth < 2 || litWidth > 8 {
		return fmt.Errorf("LZW code size %d out of range", litWidth)
	}
	rect := image.Rect(left, top, left+fw, top+fh)
	clip := rect.Intersect(s.screen)
	W := s.screen.Dx()
	if disposal == 3 && !clip.Empty() {
		if s.saved == nil {
			s.saved = make([]uint8, len(s.canvas.Pix))
		}
		for y := clip.Min.Y; y < clip.Max.Y; y++ {
			copy(s.saved[y*W+clip.Min.X:y*W+clip.Max.X], s.canvas.Pix[y*W+clip.Min.X:])
		}
	}
	s.disposal, s.disposed = disposal, clip

	s.blocks = gifBlockReader{br: s.br}
	if s.lzw == nil {
		s.lzw = lzw.NewReader(&s.blocks, lzw.LSB, int(litWidth))
	} else {
		s.lzw.(*lzw.Reader).Reset(&s.blocks, lzw.LSB, int(litWidth))
	}
	if cap(s.row) < fw {
		s.row = make([]uint8, fw)
	}
	row := s.row[:fw]
	var lzwErr error
	if !clip.Empty() {
		for i := range fh {
			y := top + interlacedRow(i, fh, interlaced)
			if !interlaced && y >= clip.Max.Y {
				break // the rest is off screen: skipped undecoded below
			}
			if _, err := io.ReadFull(s.lzw, row); err != nil {
				// Data that ends early (the end-of-information code or the
				// block terminator before the last pixel) leaves the rest
				// undrawn, as browsers do; a cut file is an error below.
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					lzwErr = err
				}
				break
			}
			if y < clip.Min.Y || y >= clip.Max.Y {
				continue
			}
			dst := s.canvas.Pix[y*W+clip.Min.X : y*W+clip.Max.X]
			src := row[clip.Min.X-left:]
			for x := range dst {
				if c := int(src[x]); c != transparent {
					dst[x] = pal[c]
				}
			}
		}
	}
	// Whatever follows the pixels (more codes, data past the
	// end-of-information code, or an image wholly off screen) is skipped.
	if !s.blocks.done && !s.blocks.cut && s.blocks.err == nil {
		if s.blocks.left > 0 {
			if _, err := s.br.Discard(s.blocks.left); err != nil {
				return eofErr(err)
			}
		}
		if err := skipGIFBlocks(s.br); err != nil {
			return err
		}
	}
	switch {
	case s.blocks.err != nil:
		return gifReadError{s.blocks.err}
	case s.blocks.cut:
		return errGIFTruncated
	case lzwErr != nil:
		return fmt.Errorf("image data: %s", lzwErr)
	}
	s.next++
	return nil
}

// interlacedRow maps the i-th row stored to its row in the frame.
func interlacedRow(i, h int, interlaced bool) int {
	if !interlaced {
		return i
	}
	// Passes: every 8th row from 0, every 8th from 4, every 4th from 2,
	// every 2nd from 1.
	for _, p := range [4]struct{ start, step int }{{0, 8}, {4, 8}, {2, 4}, {1, 2}} {
		n := (h - p.start + p.step - 1) / p.step
		if p.start >= h {
			n = 0
		}
		if i < n {
			return p.start + i*p.step
		}
		i -= n
	}
	return h // not reached for i < h
}

// gifBlockReader reads the bytes of a run of data sub-blocks. done is set
// at the terminator, cut when the file ends first, err on a read error.
type gifBlockReader struct {
	br   *bufio.Reader
	left int // bytes left in the current sub-block
	done bool
	cut  bool
	err  error
}

func (b *gifBlockReader) ReadByte() (byte, error) {
	if !b.fill() {
		return 0, io.EOF
	}
	c, err := b.br.ReadByte()
	if err != nil {
		b.fail(err)
		return 0, io.EOF
	}
	b.left--
	return c, nil
}

func (b *gifBlockReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !b.fill() {
		return 0, io.EOF
	}
	n, err := b.br.Read(p[:min(len(p), b.left)])
	b.left -= n
	if err != nil && n == 0 {
		b.fail(err)
		return 0, io.EOF
	}
	return n, nil
}

// fill moves to the next sub-block when the current one is used up; it
// reports whether bytes remain.
func (b *gifBlockReader) fill() bool {
	for b.left == 0 {
		if b.done || b.cut || b.err != nil {
			return false
		}
		n, err := b.br.ReadByte()
		if err != nil {
			b.fail(err)
			return false
		}
		if n == 0 {
			b.done = true
			return false
		}
		b.left = int(n)
	}
	return true
}

func (b *gifBlockReader) fail(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		b.cut = true
	} else {
		b.err = err
	}
}
