package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/folio-ocr/folio/ocr"
	"github.com/folio-ocr/folio/pipeline"
)

// A TIFF page's errors reach clients in the page's entry, so they never
// name the file on the worker's disk (the input cache's path); and a page
// whose file is gone from that disk is the worker's fault, retried, not
// INVALID_ARGUMENT.
func TestRecognizerTIFFErrorsHideLocalPaths(t *testing.T) {
	pool, err := ocr.NewPool(ocr.PoolConfig{Size: 1, MaxPixels: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	r := recognizer{pool: pool, maxPixels: 1_000_000}
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.blob")
	if err := os.WriteFile(broken, []byte("II*\x00\x08\x00\x00\x00garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	scan, err := os.ReadFile(filepath.Join("..", "..", "testdata", "scans", "g4.tiff"))
	if err != nil {
		t.Fatal(err)
	}
	g4 := filepath.Join(dir, "g4.blob") // three pages of 2550×3300
	if err := os.WriteFile(g4, scan, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      *pipeline.Raster
		invalid bool // the page's fault: INVALID_ARGUMENT in its entry
	}{
		{"broken TIFF page", &pipeline.Raster{Path: broken}, true},
		{"page past the end", &pipeline.Raster{Path: g4, Index: 3}, true},
		{"page over the pixel limit", &pipeline.Raster{Path: g4, Index: 0}, true},
		{"file gone from the cache", &pipeline.Raster{Path: filepath.Join(dir, "evicted.blob")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Recognize(context.Background(), tt.in, pipeline.OCROptions{})
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, pipeline.ErrInvalidInput); got != tt.invalid {
				t.Errorf("Recognize: %v; wraps ErrInvalidInput: %v, want %v", err, got, tt.invalid)
			}
			if tt.invalid && strings.Contains(err.Error(), dir) {
				t.Errorf("the page's error names the worker's local file: %q", err)
			}
		})
	}
}
