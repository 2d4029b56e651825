package pipeline

import (
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"io"
	"strings"
)

// The compositor GIFPages used before the streaming reader, over
// image/gif's DecodeAll: the reference the reader's pages are compared
// with on files both accept.

// refGIF composites a decoded GIF's frames in order. It keeps the
// canvas between calls, so visiting pages in ascending order costs one
// composite per frame.
type refGIF struct {
	g      *gif.GIF
	screen image.Rectangle
	canvas *image.RGBA // transparent until drawn on
	saved  *image.RGBA // canvas before a DisposalPrevious frame
	out    *image.Gray
	next   int // index of the next frame to draw
}

// decodeRefGIF checks the logical screen against maxPixels, then decodes every
// frame.
func decodeRefGIF(r io.ReadSeeker, maxPixels int) (*refGIF, error) {
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
	return &refGIF{g: g, screen: screen}, nil
}

func (c *refGIF) frames() int { return len(c.g.Image) }

// page returns the screen as shown at frame n (1-based), flattened onto
// white in gray. The image is reused by the next call.
func (c *refGIF) page(n int) *image.Gray {
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
