package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/folio-ocr/folio/internal/pdfgen"
)

var (
	sharedIsolated     *IsolatedPDF
	sharedIsolatedErr  error
	sharedIsolatedOnce sync.Once
)

// testIsolated returns an IsolatedPDF shared by the package's tests.
func testIsolated(tb testing.TB) *IsolatedPDF {
	tb.Helper()
	sharedIsolatedOnce.Do(func() { sharedIsolated, sharedIsolatedErr = NewIsolatedPDF(PDFConfig{Instances: 2}) })
	if sharedIsolatedErr != nil {
		tb.Fatalf("NewIsolatedPDF: %v", sharedIsolatedErr)
	}
	return sharedIsolated
}

// openIsolated opens b with the shared IsolatedPDF.
func openIsolated(t testing.TB, b []byte) (Document, error) {
	t.Helper()
	return testIsolated(t).Open(context.Background(), bytes.NewReader(b), int64(len(b)))
}

// opener opens a PDF's bytes on a shared test engine.
type opener func(t testing.TB, b []byte) (Document, error)

// engines are the PDF engines that must read pages alike: pdfium in the
// process and in child processes.
var engines = map[string]opener{"in-process": openBytes, "isolated": openIsolated}

// firstPage opens pdf with open and returns its page 1, failing t if
// either step fails; the document is closed when t ends.
func firstPage(t testing.TB, open opener, pdf []byte) *Page {
	t.Helper()
	doc, err := open(t, pdf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { doc.Close() })
	p, err := doc.Page(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// isolatedCorpus is the files the isolated engine must read as PDF does:
// generated pages of every kind the tests know, and three of Debian's R
// manuals when present (r-doc-pdf).
func isolatedCorpus(t *testing.T) map[string][]byte {
	files := map[string][]byte{
		"text":     makePDF(genPage{Runs: []textRun{{X: 72, Y: 700, Text: "Hello PDF world"}}}, genPage{Width: 595, Height: 842}, twoColumnPage()),
		"rotated":  makePDF(genPage{Width: 600, Height: 800, Rotate: 90, Runs: []textRun{{X: 100, Y: 700, Text: "Rotated page text"}}}),
		"type3":    type3PDF("Type three"),
		"document": pdfgen.Document(4),
	}
	// Three of the R manuals, 206 pages (all seven take 90 s under the
	// race detector, for the same code on both sides).
	for _, m := range []string{"R-intro.pdf", "R-data.pdf", "R-FAQ.pdf"} {
		if b, err := os.ReadFile(filepath.Join(filepath.Dir(rIntro), m)); err == nil {
			files[m] = b
		}
	}
	return files
}

// TestIsolatedMatchesInProcess reads every page, and renders the first
// pages, of each file with both engines: the pages must be equal.
func TestIsolatedMatchesInProcess(t *testing.T) {
	ctx := context.Background()
	for name, b := range isolatedCorpus(t) {
		t.Run(name, func(t *testing.T) {
			want, err := testPDF(t).Open(ctx, bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			defer want.Close()
			// A file on disk, as the worker's cache gives, is read by name.
			path := filepath.Join(t.TempDir(), "in.pdf")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := testIsolated(t).Open(ctx, f, int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if got.PageCount() != want.PageCount() {
				t.Fatalf("%d pages, want %d", got.PageCount(), want.PageCount())
			}
			for n := 1; n <= got.PageCount(); n++ {
				gp, err := got.Page(ctx, n)
				if err != nil {
					t.Fatalf("page %d: %v", n, err)
				}
				wp, err := want.Page(ctx, n)
				if err != nil {
					t.Fatalf("page %d in process: %v", n, err)
				}
				if !reflect.DeepEqual(gp, wp) {
					t.Errorf("page %d differs: %d chars, want %d", n, len(gp.Chars), len(wp.Chars))
				}
				if n > 2 {
					continue
				}
				opts := RasterOptions{DPI: 100}
				gr, err := got.Raster(ctx, n, opts)
				if err != nil {
					t.Fatalf("raster %d: %v", n, err)
				}
				wr, err := want.Raster(ctx, n, opts)
				if err != nil {
					t.Fatalf("raster %d in process: %v", n, err)
				}
				if !reflect.DeepEqual(gr, wr) {
					t.Errorf("raster of page %d differs", n)
				}
			}
		})
	}
}

// TestIsolatedErrors: a bad file's error reads as it does in process, with
// the same sentinel, and a bad page leaves the document usable.
func TestIsolatedErrors(t *testing.T) {
	ctx := context.Background()
	enc, err := os.ReadFile("testdata/encrypted.pdf")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"garbage", []byte("not a pdf at all"), ErrInvalidInput},
		{"truncated", pdfgen.Document(2)[:40], ErrInvalidInput},
		{"encrypted", enc, ErrEncrypted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, werr := testPDF(t).Open(ctx, bytes.NewReader(tc.b), int64(len(tc.b)))
			_, gerr := testIsolated(t).Open(ctx, bytes.NewReader(tc.b), int64(len(tc.b)))
			if !errors.Is(gerr, tc.want) || !errors.Is(werr, tc.want) {
				t.Fatalf("isolated %v, in process %v; want %v", gerr, werr, tc.want)
			}
			if gerr.Error() != werr.Error() {
				t.Errorf("message %q, in process %q", gerr, werr)
			}
		})
	}
	b := pdfgen.Document(2)
	doc, err := testIsolated(t).Open(ctx, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	if _, err := doc.Page(ctx, 3); err == nil {
		t.Error("page 3 of 2: no error")
	}
	if _, err := doc.Page(ctx, 2); err != nil {
		t.Errorf("page 2 after a bad page number: %v", err)
	}
}

// TestIsolatedDeadline: a page past its deadline returns the context's
// error within a moment of it, while another document goes on in the other
// child; the stuck child is killed and replaced.
func TestIsolatedDeadline(t *testing.T) {
	p, err := NewIsolatedPDF(PDFConfig{Instances: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	bad := pdfgen.SlowPages(256) // about 17 s in pdfium's parser, in little memory
	hostile, err := p.Open(ctx, bytes.NewReader(bad), int64(len(bad)))
	if err != nil {
		t.Fatal(err)
	}
	defer hostile.Close()
	good := pdfgen.ManyPages(400)
	other, err := p.Open(ctx, bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stuck := hostile.(*procDoc).c

	const timeout = time.Second
	read := make(chan int)
	stop := make(chan struct{})
	go func() { // the other document reads pages meanwhile
		n := 0
		defer func() { read <- n }()
		for ; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := other.Page(ctx, n%400+1); err != nil {
				t.Errorf("other document, page %d: %v", n%400+1, err)
				return
			}
		}
	}()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	_, err = hostile.Page(pctx, 1)
	took := time.Since(start)
	cancel()
	close(stop)
	n := <-read
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hostile page: %v, want DeadlineExceeded", err)
	}
	if took > timeout+2*time.Second {
		t.Errorf("hostile page returned %s after its deadline", took-timeout)
	}
	if n == 0 { // a few dozen on an idle machine
		t.Errorf("the other document read no page while the hostile page ran")
	}
	t.Logf("the other document read %d pages in %s", n, took)
	select {
	case <-stuck.done:
	case <-time.After(5 * time.Second):
		t.Error("the stuck child still runs")
	}
	if _, err := hostile.Page(ctx, 1); err == nil {
		t.Error("the document still works after its child was killed")
	}
	// A replacement is started; a new document opens and reads at once.
	again, err := p.Open(ctx, bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := again.Page(ctx, 1); err != nil {
		t.Error(err)
	}
	// Two, and a replacement (a fourth if the new document came before
	// the replacement was ready).
	if got := p.Started(); got < 3 || got > 4 {
		t.Errorf("%d children started, want 3 or 4", got)
	}
}

// TestIsolatedChildKilled: a child killed from outside (a crash, the OOM
// killer) fails its call with ErrChildExited, a retryable error, and the
// next document gets a fresh child.
func TestIsolatedChildKilled(t *testing.T) {
	p, err := NewIsolatedPDF(PDFConfig{Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	b := pdfgen.Document(3)
	doc, err := p.Open(ctx, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	if _, err := doc.Page(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := doc.(*procDoc).c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Page 2 was read ahead after page 1 and its answer may be in the pipe
	// already; page 3 needs the dead child.
	_, err = doc.Page(ctx, 3)
	if !errors.Is(err, ErrChildExited) || errors.Is(err, ErrInvalidInput) {
		t.Fatalf("page after the kill: %v, want ErrChildExited", err)
	}
	t.Log(err)
	if err := doc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	again, err := p.Open(ctx, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := again.Page(ctx, 2); err != nil {
		t.Error(err)
	}
}

// TestIsolatedClose: Close kills the children, and a document still open
// fails cleanly.
func TestIsolatedClose(t *testing.T) {
	p, err := NewIsolatedPDF(PDFConfig{Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := pdfgen.Document(2)
	doc, err := p.Open(context.Background(), bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	c := doc.(*procDoc).c
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if !c.exited() {
		t.Error("child runs after Close")
	}
	if _, err := doc.Page(context.Background(), 1); err == nil {
		t.Error("page after Close: no error")
	}
	_ = doc.Close()
	if _, err := p.Open(context.Background(), bytes.NewReader(b), int64(len(b))); err == nil {
		t.Error("Open after Close: no error")
	}
}

// TestIsolatedReapsIdleChildren: children idle past the timeout are
// stopped, all but the most recently used one.
func TestIsolatedReapsIdleChildren(t *testing.T) {
	defer func(timeout, check time.Duration) { childIdleTimeout, childIdleCheck = timeout, check }(childIdleTimeout, childIdleCheck)
	childIdleTimeout, childIdleCheck = 200*time.Millisecond, 50*time.Millisecond
	p, err := NewIsolatedPDF(PDFConfig{Instances: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b := pdfgen.Document(1)
	var docs []Document
	for range 3 { // three documents at once: three children
		d, err := p.Open(context.Background(), bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	var children []*child
	for _, d := range docs {
		children = append(children, d.(*procDoc).c)
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		idle, live := len(p.idle), len(p.live)
		p.mu.Unlock()
		if idle == 1 && live == 1 {
			break
		}
		if time.Now().After(waitUntil) {
			t.Fatalf("%d idle and %d live children after the timeout, want 1", idle, live)
		}
		time.Sleep(20 * time.Millisecond)
	}
	exited := 0
	for exited != 2 && time.Now().Before(waitUntil) { // the reaper stops them after letting go of the pool
		time.Sleep(20 * time.Millisecond)
		exited = 0
		for _, c := range children {
			if c.exited() {
				exited++
			}
		}
	}
	if exited != 2 {
		t.Errorf("%d of 3 children exited, want 2", exited)
	}
	d, err := p.Open(context.Background(), bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// TestIsolatedReadAhead: pages read ahead come back as the pages asked
// for, whatever the order of the calls (runs, a raster in between, a jump,
// a close with a page pending); a page read ahead that hangs still ends at
// its own call's deadline.
func TestIsolatedReadAhead(t *testing.T) {
	ctx := context.Background()
	b := pdfgen.Document(9)
	want, err := testPDF(t).Open(ctx, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := openIsolated(t, b)
	if err != nil {
		t.Fatal(err)
	}
	d := got.(*procDoc)
	for i, call := range []struct {
		raster bool
		n      int
	}{{false, 1}, {false, 2}, {false, 3}, {true, 3}, {false, 4}, {false, 5}, {false, 8}, {false, 6}, {false, 7}, {true, 8}, {false, 9}, {false, 1}, {false, 2}} {
		if call.raster {
			if _, err := got.Raster(ctx, call.n, RasterOptions{DPI: 20}); err != nil {
				t.Fatalf("call %d: raster %d: %v", i, call.n, err)
			}
			continue
		}
		g, err := got.Page(ctx, call.n)
		if err != nil {
			t.Fatalf("call %d: page %d: %v", i, call.n, err)
		}
		w, _ := want.Page(ctx, call.n)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("call %d: page %d differs from the in-process page", i, call.n)
		}
	}
	if d.ahead != 3 { // read ahead after pages 1 and 2
		t.Errorf("page %d pending at Close, want 3", d.ahead)
	}
	if err := got.Close(); err != nil {
		t.Errorf("Close with a page read ahead: %v", err)
	}

	// Two good pages, then one that parses for about 17 s: read ahead
	// after page 2, it still ends at page 3's own deadline.
	objs := pdfgen.SlowPages(0, 0, 256)
	doc, err := openIsolated(t, objs)
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	for n := 1; n <= 2; n++ {
		if _, err := doc.Page(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if doc.(*procDoc).ahead != 3 {
		t.Fatalf("page 3 not read ahead (ahead %d)", doc.(*procDoc).ahead)
	}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start := time.Now()
	if _, err := doc.Page(pctx, 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hostile page read ahead: %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("hostile page read ahead returned after %s", took)
	}
}

// TestIsolatedKeepsASpare: taking the last idle child starts a spare while
// there is room, so that a second document opened a moment later finds a
// child ready; with room for one child only, none is started.
func TestIsolatedKeepsASpare(t *testing.T) {
	b := pdfgen.Document(1)
	for _, tt := range []struct {
		instances int
		want      int64 // children started once the first document is open
	}{{1, 1}, {2, 2}, {3, 2}} {
		p, err := NewIsolatedPDF(PDFConfig{Instances: tt.instances})
		if err != nil {
			t.Fatal(err)
		}
		first, err := p.Open(context.Background(), bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		waitUntil := time.Now().Add(10 * time.Second)
		for p.Started() < tt.want && time.Now().Before(waitUntil) {
			time.Sleep(10 * time.Millisecond)
		}
		for time.Now().Before(waitUntil) { // the spare is ready
			p.mu.Lock()
			idle := len(p.idle)
			p.mu.Unlock()
			if int64(idle) == tt.want-1 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := p.Started(); got != tt.want {
			t.Errorf("Instances %d: %d children started with one document open, want %d", tt.instances, got, tt.want)
		}
		if tt.instances > 1 {
			second, err := p.Open(context.Background(), bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if second.(*procDoc).c == first.(*procDoc).c {
				t.Errorf("Instances %d: two documents on one child", tt.instances)
			}
			if got := p.Started(); got > 3 {
				t.Errorf("Instances %d: %d children started for two documents, want at most 3", tt.instances, got)
			}
			_ = second.Close()
		}
		_ = first.Close()
		_ = p.Close()
	}
}
