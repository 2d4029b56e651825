package pipeline

import (
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"io"
	"strings"
)

// GIFPages decodes every frame of a GIF as the full page a viewer shows at
// that frame: frames are drawn onto the logical screen in order, honouring
// their position, transparency and disposal method, and the result is
// flattened onto white in gray. each is called with pages numbered from 1;
// the image passed to it is reused for the next page, so copy what must be
// kept. A file that is not a GIF, is truncated, or whose screen exceeds
// maxPixels (if positive) is an error wrapping ErrInvalidInput; an error
// from each is returned as it is.
//
// The screen size is checked before any frame is decoded, and frames must
// lie within the screen, so one frame costs at most maxPixels bytes. All
// frames are decoded at once, though (image/gif has no frame-by-frame
// decoder): a GIF of many frames can still expand to many times maxPixels.
func GIFPages(r io.ReadSeeker, maxPixels int, each func(n int, page *image.Gray) error) error {
	c, err := decodeGIF(r, maxPixels)
	if err != nil {
		return err
	}
	for n := 1; n <= c.frames(); n++ {
		if err := each(n, c.page(n)); err != nil {
			return err
		}
	}
	return nil
}

// gifCanvas composites a decoded GIF's frames in order. It keeps the
// canvas between calls, so visiting pages in ascending order costs one
// composite per frame.
type gifCanvas struct {
	g      *gif.GIF
	screen image.Rectangle
	canvas *image.RGBA // transparent until drawn on
	saved  *image.RGBA // canvas before a DisposalPrevious frame
	out    *image.Gray
	next   int // index of the next frame to draw
}

// decodeGIF checks the logical screen against maxPixels, then decodes every
// frame.
func decodeGIF(r io.ReadSeeker, maxPixels int) (*gifCanvas, error) {
	cfg, err := gif.DecodeConfig(r)
	if err != nil {
		return nil, fmt.Errorf("pipeline: gif: %s: %w", strings.TrimPrefix(err.Error(), "gif: "), ErrInvalidInput)
	}
	if maxPixels > 0 && int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, fmt.Errorf("pipeline: gif: %d×%d pixels, over the limit of %d: %w", cfg.Width, cfg.Height, maxPixels, ErrInvalidInput)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("pipeline: gif: %w", err)
	}
	g, err := gif.DecodeAll(r)
	if err != nil {
		return nil, fmt.Errorf("pipeline: gif: %s: %w", strings.TrimPrefix(err.Error(), "gif: "), ErrInvalidInput)
	}
	w, h := g.Config.Width, g.Config.Height
	if w <= 0 || h <= 0 {
		// Some writers leave the logical screen empty: use the frames' extent.
		for _, f := range g.Image {
			w, h = max(w, f.Bounds().Max.X), max(h, f.Bounds().Max.Y)
		}
	}
	if w <= 0 || h <= 0 || len(g.Image) == 0 {
		return nil, fmt.Errorf("pipeline: gif: no frames: %w", ErrInvalidInput)
	}
	if maxPixels > 0 && int64(w)*int64(h) > int64(maxPixels) {
		return nil, fmt.Errorf("pipeline: gif: %d×%d pixels, over the limit of %d: %w", w, h, maxPixels, ErrInvalidInput)
	}
	screen := image.Rect(0, 0, w, h)
	return &gifCanvas{g: g, screen: screen}, nil
}

func (c *gifCanvas) frames() int { return len(c.g.Image) }

// page returns the screen as shown at frame n (1-based), flattened onto
// white in gray. The image is reused by the next call.
func (c *gifCanvas) page(n int) *image.Gray {
	if c.canvas == nil || n-1 < c.next {
		c.canvas = image.NewRGBA(c.screen)
		c.out = image.NewGray(c.screen)
		c.next = 0
	}
	for ; c.next < n; c.next++ {
		i := c.next
		frame := c.g.Image[i]
		disposal := byte(0)
		if i < len(c.g.Disposal) {
			disposal = c.g.Disposal[i]
		}
		if disposal == gif.DisposalPrevious {
			if c.saved == nil {
				c.saved = image.NewRGBA(c.screen)
			}
			copy(c.saved.Pix, c.canvas.Pix)
		}
		rect := frame.Bounds().Intersect(c.screen)
		draw.Draw(c.canvas, rect, frame, rect.Min, draw.Over)
		if i == n-1 {
			flattenOnWhite(c.out, c.canvas)
		}
		switch disposal {
		case gif.DisposalBackground:
			draw.Draw(c.canvas, rect, image.Transparent, image.Point{}, draw.Src)
		case gif.DisposalPrevious:
			copy(c.canvas.Pix, c.saved.Pix)
		}
	}
	return c.out
}

// flattenOnWhite writes src composited over white into dst, in gray.
func flattenOnWhite(dst *image.Gray, src *image.RGBA) {
	for i, j := 0, 0; i < len(src.Pix); i, j = i+4, j+1 {
		r, g, b, a := uint32(src.Pix[i]), uint32(src.Pix[i+1]), uint32(src.Pix[i+2]), uint32(src.Pix[i+3])
		// Premultiplied: over white adds (255-a) to each channel.
		y := (19595*(r+255-a) + 38470*(g+255-a) + 7471*(b+255-a) + 1<<15) >> 16
		dst.Pix[j] = uint8(min(y, 255))
	}
}
