package pipeline

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/folio-ocr/folio/internal/pdfgen"
)

// A page whose content inflates past the instance's memory cap fails
// alone, INVALID_ARGUMENT naming the memory it needed, in well under a
// page timeout; the document moves to a fresh instance and reads the next
// page.
func TestMemoryCap(t *testing.T) {
	p, err := NewPDF(PDFConfig{Instances: 1, MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	page := func(contents int) string {
		return "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents " +
			strconv.Itoa(contents) + " 0 R >>"
	}
	text := "BT /F1 12 Tf 72 720 Td (The page after the bomb) Tj ET"
	data := pdfgen.Raw([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [4 0 R 5 0 R] /Count 2 >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		page(6), page(7),
		pdfgen.FlateBomb([]byte{' '}, 512<<20, ""),
		"<< /Length " + strconv.Itoa(len(text)) + " >>\nstream\n" + text + "\nendstream",
	})
	doc, err := p.Open(context.Background(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = doc.Close() }()
	start := time.Now()
	_, err = doc.Page(context.Background(), 1)
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "page needs more than 64 MB of memory") {
		t.Fatalf("page 1: %v; want ErrInvalidInput, needs more than 64 MB of memory", err)
	}
	t.Logf("page 1 refused in %v: %v", time.Since(start), err)
	pg, err := doc.Page(context.Background(), 2)
	if err != nil {
		t.Fatalf("page 2 after the refused page: %v", err)
	}
	var got strings.Builder
	for _, c := range pg.Chars {
		got.WriteRune(c.Rune)
	}
	if !strings.Contains(got.String(), "The page after the bomb") {
		t.Errorf("page 2 text %q", got.String())
	}
}
