package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/ocr"
	"github.com/folio-ocr/folio/pipeline"
)

// recognizer serves pipeline.Recognizer with a pool of Tesseract engines,
// loading each raster into Leptonica's memory the cheapest way its form
// allows.
type recognizer struct {
	pool      *ocr.Pool
	maxPixels int
}

func (r recognizer) Recognize(ctx context.Context, ras *pipeline.Raster, o pipeline.OCROptions) (*visionpb.TextAnnotation, error) {
	var (
		img *ocr.Image
		err error
	)
	switch {
	case ras.Gray != nil:
		img, err = ocr.FromGray(ras.Gray)
	case ras.Data != nil:
		img, err = ocr.Decode(ras.Data, r.maxPixels)
	case ras.Path != "":
		img, err = ocr.ReadTIFFPage(ras.Path, ras.Index, r.maxPixels)
	default:
		return nil, errors.New("ocr: empty raster")
	}
	if err != nil {
		// The page's image is at fault: undecodable or over the limit.
		return nil, fmt.Errorf("%w: %w", pipeline.ErrInvalidInput, err)
	}
	defer img.Close()
	ta, err := r.pool.Recognize(ctx, img, ocr.Options{
		DPI: int(ras.DPI + 0.5), Languages: o.Languages, DetectOrientation: o.DetectOrientation,
	})
	if errors.Is(err, ocr.ErrTooLarge) || errors.Is(err, ocr.ErrFormat) {
		return nil, fmt.Errorf("%w: %w", pipeline.ErrInvalidInput, err)
	}
	return ta, err
}

// ensureOMPLimit re-executes the worker with OMP_THREAD_LIMIT=1 when it is
// unset. Debian's Tesseract is built with OpenMP, which reads the variable
// once, when the library loads: setting it later in the process has no
// effect, and without it OCR runs 4-6 times slower on two cores.
func ensureOMPLimit() error {
	if os.Getenv("OMP_THREAD_LIMIT") != "" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable to set OMP_THREAD_LIMIT: %w", err)
	}
	env := append(os.Environ(), "OMP_THREAD_LIMIT=1")
	return syscall.Exec(exe, os.Args, env)
}
