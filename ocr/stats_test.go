package ocr

import (
	"testing"
	"time"
)

// Busy counts the recognitions running, up to Size.
func TestPoolBusy(t *testing.T) {
	p, err := NewPool(PoolConfig{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Size() != 2 || p.Busy() != 0 {
		t.Fatalf("idle pool: size %d, busy %d; want 2, 0", p.Size(), p.Busy())
	}
	big := toImage(t, renderPage(t, [][]string{paragraphs[0], paragraphs[1], paragraphs[0], paragraphs[1]}))
	done := make(chan error, 1)
	go func() {
		_, err := p.Recognize(t.Context(), big, Options{DPI: dpi})
		done <- err
	}()
	sawBusy := false
	for !sawBusy {
		select {
		case err := <-done:
			t.Fatalf("recognition ended (%v) before Busy reported it", err)
		case <-time.After(time.Millisecond):
			sawBusy = p.Busy() == 1
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p.Busy() != 0 {
		t.Errorf("busy after the recognition = %d, want 0", p.Busy())
	}
}
