package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
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
		if err != nil && !errors.Is(err, ocr.ErrFormat) && !errors.Is(err, ocr.ErrTooLarge) {
			// Not the page's fault: its file is missing or unreadable on
			// this worker's disk. The task is retried, and the error, which
			// names the local file, never reaches a client.
			return nil, fmt.Errorf("ocr: read TIFF page %d: %w", ras.Index+1, err)
		}
	default:
		return nil, errors.New("ocr: empty raster")
	}
	if err != nil {
		// The page's image is at fault: undecodable or over the limit.
		return nil, fmt.Errorf("%w: %w", pipeline.ErrInvalidInput, err)
	}
	defer img.Close()
	if err := img.Turn(ras.Turn); err != nil {
		return nil, fmt.Errorf("%w: %w", pipeline.ErrInvalidInput, err)
	}
	ta, err := r.pool.Recognize(ctx, img, ocr.Options{
		DPI: int(ras.DPI + 0.5), Languages: o.Languages, DetectOrientation: o.DetectOrientation,
	})
	if errors.Is(err, ocr.ErrTooLarge) || errors.Is(err, ocr.ErrFormat) {
		return nil, fmt.Errorf("%w: %w", pipeline.ErrInvalidInput, err)
	}
	return ta, err
}

// processEnv is the environment OCR needs from the start of the process,
// because the libraries read it once, when they load:
//   - OMP_THREAD_LIMIT=1: Debian's Tesseract is built with OpenMP, and
//     without the limit OCR runs 4-6 times slower on two cores;
//   - MALLOC_ARENA_MAX=2: Tesseract and Leptonica allocate and free some
//     100 MB per page from whichever thread runs it, and glibc keeps freed
//     memory in per-thread arenas (up to eight per core), so the process
//     grows until every arena holds a page's worth. Two arenas cut the peak
//     RSS of two engines reading 120 pages from 317 MB to 200 MB at 1% of
//     the time.
var processEnv = []string{"OMP_THREAD_LIMIT=1", "MALLOC_ARENA_MAX=2"}

// missingEnv returns the settings of processEnv whose variable getenv
// does not set; a value the environment gives is kept.
func missingEnv(getenv func(string) string) []string {
	var missing []string
	for _, kv := range processEnv {
		k, _, _ := strings.Cut(kv, "=")
		if getenv(k) == "" {
			missing = append(missing, kv)
		}
	}
	return missing
}

// ensureProcessEnv re-executes the worker with the settings of processEnv
// that its environment lacks; setting them later in the process has no
// effect.
func ensureProcessEnv() error {
	missing := missingEnv(os.Getenv)
	if len(missing) == 0 {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable to set %s: %w", strings.Join(missing, " "), err)
	}
	return syscall.Exec(exe, os.Args, append(os.Environ(), missing...))
}
