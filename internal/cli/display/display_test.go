package display

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFigures(t *testing.T) {
	tests := []struct {
		s    Stats
		pps  float64
		eta  time.Duration
		want string
	}{
		{s: Stats{FilesTotal: 3}, want: "files 0/3"},
		{s: Stats{FilesDone: 1, FilesTotal: 3, PagesDone: 8, PagesTotal: 20}, pps: 5.66, eta: 2 * time.Second,
			want: "pages 8/20, files 1/3, 5.7 pages/s, ETA 2s"},
		{s: Stats{FilesDone: 3, FilesTotal: 3, PagesDone: 20, PagesTotal: 20, PagesFailed: 2}, pps: 9.7,
			want: "pages 20/20 (2 failed), files 3/3, 9.7 pages/s"},
	}
	for _, tt := range tests {
		if got := figures(tt.s, tt.pps, tt.eta); got != tt.want {
			t.Errorf("figures(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestRate(t *testing.T) {
	var r rate
	t0 := time.Unix(1000, 0)
	if pps, eta := r.observe(t0, 5, 100); pps != 0 || eta != 0 {
		t.Errorf("first observation: %v, %v; want nothing known", pps, eta)
	}
	pps, eta := r.observe(t0.Add(10*time.Second), 25, 100)
	if pps != 2 || eta != 38*time.Second {
		t.Errorf("20 pages in 10s with 75 left: %v pages/s, ETA %v; want 2, 38s", pps, eta)
	}
}

// syncBuffer is a bytes.Buffer safe for the plain display's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPlain(t *testing.T) {
	var out syncBuffer
	d := Plain(&out, 10*time.Millisecond)
	// printed waits until the display's ticker has printed s.
	printed := func(s string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), s); {
			if time.Now().After(deadline) {
				t.Fatalf("%q not printed after 10 s:\n%s", s, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	d.Update(Stats{FilesTotal: 2, PagesTotal: 4, PagesDone: 1})
	printed("pages 1/4")
	time.Sleep(50 * time.Millisecond) // ticks with nothing new
	d.Println("done    a  2 pages")
	d.Update(Stats{FilesTotal: 2, FilesDone: 2, PagesTotal: 4, PagesDone: 4})
	printed("pages 4/4")
	d.Close()
	got := out.String()
	if strings.ContainsAny(got, "\r\x1b") {
		t.Errorf("plain output has redraws: %q", got)
	}
	for _, want := range []string{"pages 1/4, files 0/2\n", "done    a  2 pages\n", "pages 4/4, files 2/2"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "pages 1/4") != 1 {
		t.Errorf("an unchanged line was printed again:\n%s", got)
	}
}
