package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/internal/tiffgen"
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

// scanPDF returns a one-page PDF of a 300 dpi gray scan stored as img,
// covering the page, under /Rotate rotate.
func scanPDF(img *image.Gray, rotate int) []byte {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	pw, ph := float64(w)*72/300, float64(h)*72/300
	content := fmt.Sprintf("q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q", pw, ph)
	return pdfgen.Raw([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] /Rotate %d /Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R >>", pw, ph, rotate),
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		fmt.Sprintf("<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n%s\nendstream",
			w, h, len(img.Pix), img.Pix),
	})
}

// A scan stored sideways or upside down under a /Rotate that shows it
// upright reads as the upright scan does: the same text and boxes, from
// the stored image turned (not a rendering), with no second reading.
func TestTurnedScansReadAsUpright(t *testing.T) {
	pdf, err := pipeline.NewPDF(pipeline.PDFConfig{Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pdf.Close()
	pool, err := ocr.NewPool(ocr.PoolConfig{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	r := recognizer{pool: pool}
	page, err := tiffgen.Text(40, "Scanned pages are often stored", "sideways or upside down, with a", "Rotate entry that shows them upright.")
	if err != nil {
		t.Fatal(err)
	}
	var want *visionpb.TextAnnotation
	// The stored image of each /Rotate (clockwise) is the page turned the
	// other way: TIFF orientations 6, 3 and 8 are shown turned 90°, 180°
	// and 270° clockwise.
	for _, tc := range []struct{ rotate, orientation int }{{0, 1}, {90, 6}, {180, 3}, {270, 8}} {
		b := scanPDF(tiffgen.Orient(page, tc.orientation), tc.rotate)
		doc, err := pdf.Open(context.Background(), bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		ras, err := doc.Raster(context.Background(), 1, pipeline.RasterOptions{})
		doc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ras.Gray == nil || ras.Turn != tc.rotate/90 {
			t.Fatalf("/Rotate %d: raster %s turned %d, want the stored pixels turned %d", tc.rotate, ras.Kind(), ras.Turn, tc.rotate/90)
		}
		ta, err := r.Recognize(context.Background(), ras, pipeline.OCROptions{DetectOrientation: true})
		if err != nil {
			t.Fatal(err)
		}
		if tc.rotate == 0 {
			want = ta
			if !strings.Contains(ta.GetText(), "upside down") {
				t.Fatalf("upright scan reads %q", ta.GetText())
			}
			continue
		}
		if !proto.Equal(ta, want) {
			t.Errorf("/Rotate %d reads %q, upright %q (or boxes differ)", tc.rotate, ta.GetText(), want.GetText())
		}
	}
}
