package ocr

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// germanPage is German text that the deu model reads with its umlauts.
var germanPage = [][]string{{
	"Übermäßig große Bücher störten die Bäckerei.",
	"Zwölf Boxkämpfer jagen Viktor quer über den Sylter Deich.",
}}

func TestPool(t *testing.T) {
	p, err := NewPool(PoolConfig{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	en := toImage(t, renderPage(t, paragraphs[1:]))
	de := toImage(t, renderPage(t, germanPage))
	jobs := []struct {
		img   *Image
		langs string
		want  string
		code  string
	}{
		{en, "eng", "zebras", "en"},
		{de, "deu", "Zwölf", "de"},
		{en, "", "zebras", "en"},
		{de, "eng+deu", "Boxkämpfer", "de"},
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := range 3 {
				j := jobs[(g+i)%len(jobs)]
				ta, err := p.Recognize(t.Context(), j.img, Options{DPI: dpi, Languages: j.langs})
				if err != nil {
					t.Error(err)
					return
				}
				if !strings.Contains(ta.Text, j.want) {
					t.Errorf("%q: text %q lacks %q", j.langs, ta.Text, j.want)
				}
				if dl := ta.Pages[0].GetProperty().GetDetectedLanguages(); len(dl) == 0 || dl[0].LanguageCode != j.code {
					t.Errorf("%q: languages %v, want %s first", j.langs, dl, j.code)
				}
			}
		})
	}
	wg.Wait()
	n, idle := p.counts()
	if n > 2 || idle != n {
		t.Errorf("%d engines, %d idle; want at most 2, all idle", n, idle)
	}
}

func TestPoolWaitAndCancel(t *testing.T) {
	p, err := NewPool(PoolConfig{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	big := toImage(t, renderPage(t, [][]string{paragraphs[0], paragraphs[1], paragraphs[0], paragraphs[1]}))
	small := toImage(t, renderPage(t, paragraphs[1:]))

	// Cancel a recognition midway; the engine is reused afterwards.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := p.Recognize(ctx, big, Options{DPI: dpi}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want deadline exceeded", err)
	}

	// While the only slot is busy, a caller whose ctx ends stops waiting.
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := p.Recognize(t.Context(), big, Options{DPI: dpi})
		done <- err
	}()
	<-started
	time.Sleep(50 * time.Millisecond) // let it take the slot
	wctx, wcancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer wcancel()
	if _, err := p.Recognize(wctx, small, Options{DPI: dpi}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting caller: err %v, want deadline exceeded", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ta, err := p.Recognize(t.Context(), small, Options{DPI: dpi})
	if err != nil || !strings.Contains(ta.Text, "zebras") {
		t.Errorf("after cancel: %v, %q", err, ta.GetText())
	}
	if n, _ := p.counts(); n != 1 {
		t.Errorf("%d engines, want 1", n)
	}
}

func TestPoolEvictsAndCloses(t *testing.T) {
	p, err := NewPool(PoolConfig{Size: 1, MaxPixels: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	im := toImage(t, renderPage(t, paragraphs[1:]))
	for _, l := range []string{"eng", "fra", "eng"} {
		if _, err := p.Recognize(t.Context(), im, Options{DPI: dpi, Languages: l}); err != nil {
			t.Fatal(err)
		}
		if n, idle := p.counts(); n != 1 || idle != 1 || len(p.idle[l]) != 1 {
			t.Errorf("after %s: %d engines, %d idle %v", l, n, idle, p.idle)
		}
	}
	if _, err := p.Recognize(t.Context(), im, Options{Languages: "no_such_model"}); err == nil {
		t.Error("missing model: no error")
	}
	huge := toImage(t, renderPage(t, [][]string{paragraphs[0], paragraphs[1], paragraphs[0], paragraphs[1], paragraphs[0]}))
	if _, err := p.Recognize(t.Context(), huge, Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxPixels: err %v, want ErrTooLarge", err)
	}
	p.Close()
	p.Close()
	if _, err := p.Recognize(t.Context(), im, Options{DPI: dpi}); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("after Close: err %v, want ErrPoolClosed", err)
	}
	if _, err := NewPool(PoolConfig{Size: -1}); err == nil {
		t.Error("negative size: no error")
	}
}

func TestPoolOrientation(t *testing.T) {
	p, err := NewPool(PoolConfig{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	im := toImage(t, turnCW(renderPage(t, paragraphs), 2))
	ta, err := p.Recognize(t.Context(), im, Options{DPI: dpi, DetectOrientation: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ta.Text, "quick brown fox") {
		t.Errorf("upside-down page: %q", ta.Text)
	}
}

// BenchmarkPool recognizes a page from two goroutines on a pool of two
// engines; compare its ns/op with BenchmarkRecognize's for the speed-up.
func BenchmarkPool(b *testing.B) {
	p, err := NewPool(PoolConfig{Size: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	img := toImage(b, renderPage(b, paragraphs))
	var warm sync.WaitGroup // load both engines before timing
	for range 2 {
		warm.Go(func() {
			if _, err := p.Recognize(context.Background(), img, Options{DPI: dpi}); err != nil {
				b.Error(err)
			}
		})
	}
	warm.Wait()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 2 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := p.Recognize(context.Background(), img, Options{DPI: dpi}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkDetectOrientation is the cost of orientation detection alone on
// BenchmarkRecognize's page.
func BenchmarkDetectOrientation(b *testing.B) {
	d, err := newDetector("")
	if err != nil {
		b.Fatal(err)
	}
	defer d.close()
	img := toImage(b, renderPage(b, paragraphs))
	for b.Loop() {
		if _, err := d.detect(context.Background(), img, 300); err != nil {
			b.Fatal(err)
		}
	}
}

// counts returns the pool's number of engines and of idle ones.
func (p *Pool) counts() (engines, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, es := range p.idle {
		idle += len(es)
	}
	return p.nEngines, idle
}
