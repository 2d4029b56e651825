package main

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/folio-ocr/folio/ocr"
	"github.com/folio-ocr/folio/pipeline"
)

// Images that cannot be OCR'd fail their page as the file's fault
// (pipeline.ErrInvalidInput, so INVALID_ARGUMENT in the page's entry), not
// the task: nothing here reaches Tesseract.
func TestRecognizerBadImages(t *testing.T) {
	pool, err := ocr.NewPool(ocr.PoolConfig{Size: 1, MaxPixels: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	r := recognizer{pool: pool, maxPixels: 1_000_000}
	tiff := filepath.Join(t.TempDir(), "broken.tiff")
	if err := os.WriteFile(tiff, []byte("II*\x00\x08\x00\x00\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   *pipeline.Raster
	}{
		{"rendered page over the pixel limit", &pipeline.Raster{Gray: image.NewGray(image.Rect(0, 0, 2000, 1000))}},
		{"undecodable image", &pipeline.Raster{Data: []byte("\xff\xd8\xff\xe0 not really a JPEG")}},
		{"not an image at all", &pipeline.Raster{Data: []byte("%PDF-1.4")}},
		{"broken TIFF page", &pipeline.Raster{Path: tiff}},
		{"missing TIFF page", &pipeline.Raster{Path: filepath.Join("..", "..", "testdata", "scans", "g4.tiff"), Index: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Recognize(context.Background(), tt.in, pipeline.OCROptions{})
			if !errors.Is(err, pipeline.ErrInvalidInput) {
				t.Errorf("Recognize: %v, want an error wrapping ErrInvalidInput", err)
			}
		})
	}
}

func TestMissingEnv(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{}, []string{"OMP_THREAD_LIMIT=1", "MALLOC_ARENA_MAX=2"}},
		{map[string]string{"OMP_THREAD_LIMIT": "1"}, []string{"MALLOC_ARENA_MAX=2"}},
		{map[string]string{"OMP_THREAD_LIMIT": "4", "MALLOC_ARENA_MAX": "8"}, nil}, // the operator's values win
	} {
		if got := missingEnv(func(k string) string { return tt.env[k] }); !slices.Equal(got, tt.want) {
			t.Errorf("missingEnv(%v) = %v, want %v", tt.env, got, tt.want)
		}
	}
}
