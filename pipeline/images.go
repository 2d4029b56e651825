package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
)

// TIFF opens multi-page TIFF files. The pages are counted here by walking
// the directory chain; decoding is left to the OCR engine, which reads the
// page from the file (see [Raster]), so the file must be an *os.File (or
// anything with the name of a file on disk).
type TIFF struct{}

var _ Opener = TIFF{}

// Open counts the pages of the TIFF file r.
func (TIFF) Open(ctx context.Context, r io.ReadSeeker, size int64) (Document, error) {
	named, ok := r.(interface{ Name() string })
	ra, ok2 := r.(io.ReaderAt)
	if !ok || !ok2 {
		return nil, errors.New("pipeline: tiff: input must be a file on disk")
	}
	n, err := TIFFPageCount(ra, size)
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("pipeline: tiff: no pages: %w", ErrInvalidInput)
	}
	return &imageDoc{pages: n, raster: func(n int) (*Raster, error) {
		return &Raster{Path: named.Name(), Index: n - 1}, nil
	}}, nil
}

// GIF opens GIF files: each frame is a page, shown as a viewer shows it at
// that frame (see [GIFPages]).
type GIF struct {
	// MaxPixels bounds the logical screen; zero means DefaultMaxPixels.
	MaxPixels int
}

var _ Opener = GIF{}

// Open reads the GIF in r's header and counts its frames; frames are
// decoded and composited when their page is asked for, from r, which must
// stay readable until the Document is closed. Pages read in ascending
// order decode each frame once.
func (g GIF) Open(ctx context.Context, r io.ReadSeeker, size int64) (Document, error) {
	max := g.MaxPixels
	if max <= 0 {
		max = DefaultMaxPixels
	}
	s, err := openGIFStream(r, max)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	return &imageDoc{pages: s.frames, raster: func(n int) (*Raster, error) {
		mu.Lock()
		defer mu.Unlock()
		src, err := s.page(n)
		if err != nil {
			return nil, err
		}
		dst := image.NewGray(src.Rect)
		copy(dst.Pix, src.Pix)
		return &Raster{Gray: dst}, nil
	}}, nil
}

// imageDoc is a Document of an image file: pages without a text layer.
type imageDoc struct {
	pages  int
	raster func(n int) (*Raster, error)
}

func (d *imageDoc) PageCount() int { return d.pages }

func (d *imageDoc) Page(ctx context.Context, n int) (*Page, error) {
	if err := d.check(ctx, n); err != nil {
		return nil, err
	}
	return &Page{Number: n, Image: true}, nil
}

func (d *imageDoc) Raster(ctx context.Context, n int, _ RasterOptions) (*Raster, error) {
	if err := d.check(ctx, n); err != nil {
		return nil, err
	}
	return d.raster(n)
}

func (d *imageDoc) check(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n < 1 || n > d.pages {
		return fmt.Errorf("pipeline: image page %d: out of range 1..%d", n, d.pages)
	}
	return nil
}

func (d *imageDoc) Close() error { return nil }
