// Package display shows how far a `folio annotate` run has got: on a
// terminal, one bar for the whole run (pages done of total, pages per
// second, time left) redrawn in place with lines printed above it as files
// finish; elsewhere (a pipe, a file, CI logs), the same figures as a plain
// line every interval, and the file lines as they come.
package display

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Stats are the figures of a run at one moment.
type Stats struct {
	FilesDone, FilesTotal int
	// PagesDone and PagesTotal count the pages of the files the server
	// has planned (a file's pages are known once a worker opened it);
	// PagesTotal is 0 while none is known, or when the endpoint gives no
	// progress (then the bar counts files).
	PagesDone, PagesTotal int
	// PagesFailed is the number of pages done with an error.
	PagesFailed int
}

// Display shows a run's progress. Its methods may be called from several
// goroutines.
type Display interface {
	// Update replaces the figures shown.
	Update(Stats)
	// Println prints one line (a file that finished, a message) above the
	// bar, or as it is without a terminal.
	Println(line string)
	// Close stops drawing; the display is not used after.
	Close()
}

// rate follows the pages per second of a run since the first page done.
type rate struct {
	start     time.Time
	startDone int
}

// observe returns the mean pages per second since the first change of
// done and the time left for total-done pages at that rate (0 when not
// known).
func (r *rate) observe(now time.Time, done, total int) (float64, time.Duration) {
	if r.start.IsZero() {
		r.start, r.startDone = now, done
		return 0, 0
	}
	el := now.Sub(r.start).Seconds()
	if el <= 0 || done <= r.startDone {
		return 0, 0
	}
	pps := float64(done-r.startDone) / el
	if total <= done {
		return pps, 0
	}
	left := time.Duration(float64(total-done) / pps * float64(time.Second))
	return pps, left.Round(time.Second)
}

// figures formats s the way both displays show it.
func figures(s Stats, pps float64, eta time.Duration) string {
	var line string
	if s.PagesTotal > 0 {
		line = fmt.Sprintf("pages %d/%d", s.PagesDone, s.PagesTotal)
		if s.PagesFailed > 0 {
			line += fmt.Sprintf(" (%d failed)", s.PagesFailed)
		}
		line += fmt.Sprintf(", files %d/%d", s.FilesDone, s.FilesTotal)
	} else {
		line = fmt.Sprintf("files %d/%d", s.FilesDone, s.FilesTotal)
	}
	if pps > 0 {
		line += fmt.Sprintf(", %.1f pages/s", pps)
	}
	if eta > 0 {
		line += ", ETA " + eta.String()
	}
	return line
}

// refresh is the terminal's redraw interval.
const refresh = 150 * time.Millisecond

// IsTerminal reports whether w is a terminal a bar can be drawn on: one
// that says how wide it is. A pseudo-terminal nobody sized (script(1)
// without a terminal of its own) gets plain lines, as a log does.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	return err == nil && cols > 0
}

// Terminal returns a display drawing a bar on w, a terminal.
func Terminal(w io.Writer) Display {
	t := &terminal{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(refresh))}
	t.bar = t.p.New(1, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return t.text() }, decor.WCSyncSpaceR)),
		mpb.BarFillerOnComplete(""),
	)
	return t
}

// terminal is the Display of a terminal.
type terminal struct {
	p   *mpb.Progress
	bar *mpb.Bar

	mu   sync.Mutex
	line string
	r    rate
}

func (t *terminal) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.line == "" {
		return "starting"
	}
	return t.line
}

// Update implements Display.
func (t *terminal) Update(s Stats) {
	done, total := s.PagesDone, s.PagesTotal
	if total == 0 {
		done, total = s.FilesDone, s.FilesTotal
	}
	t.mu.Lock()
	pps, eta := t.r.observe(time.Now(), s.PagesDone, s.PagesTotal)
	t.line = figures(s, pps, eta)
	t.mu.Unlock()
	// The bar completes only at Close, so that it keeps redrawing while
	// files are still being written.
	t.bar.SetTotal(int64(max(total, 1))+1, false)
	t.bar.SetCurrent(int64(done))
}

// Println implements Display.
func (t *terminal) Println(line string) {
	_, _ = fmt.Fprintln(t.p, line)
}

// Close implements Display.
func (t *terminal) Close() {
	// mpb prints lines written to it and the last figures at its next
	// redraw, which completing the bar does not wait for.
	time.Sleep(2 * refresh)
	t.bar.SetTotal(-1, true)
	t.p.Wait()
}

// Plain returns a display writing the figures to w as a line every
// interval (when they changed) and file lines as they come.
func Plain(w io.Writer, interval time.Duration) Display {
	p := &plain{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop(interval)
	return p
}

// plain is the Display of anything but a terminal.
type plain struct {
	w          io.Writer
	stop, done chan struct{}

	mu      sync.Mutex
	s       Stats
	r       rate
	printed string
}

func (p *plain) loop(interval time.Duration) {
	defer close(p.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			pps, eta := p.r.observe(time.Now(), p.s.PagesDone, p.s.PagesTotal)
			line := figures(p.s, pps, eta)
			if line != p.printed {
				p.printed = line
				_, _ = fmt.Fprintln(p.w, line)
			}
			p.mu.Unlock()
		}
	}
}

// Update implements Display.
func (p *plain) Update(s Stats) {
	p.mu.Lock()
	p.s = s
	p.mu.Unlock()
}

// Println implements Display.
func (p *plain) Println(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprintln(p.w, line)
}

// Close implements Display.
func (p *plain) Close() {
	close(p.stop)
	<-p.done
}
