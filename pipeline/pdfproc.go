package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/rpcerr"
)

// ErrChildExited marks a call whose PDFium child process exited or was
// killed from outside while it worked (a crash, the kernel's OOM killer): a
// fault of this machine as far as anyone can tell, so the work is retried.
var ErrChildExited = rpcerr.Sentinel(codes.Unavailable, "the pdfium process exited")

// Closing a document: a page read ahead and never asked for gets
// settleOnClose to finish (a page takes milliseconds; past it, the page is
// likely hostile and the child is killed and replaced), and the close
// itself closeTimeout.
const (
	settleOnClose = 2 * time.Second
	closeTimeout  = 10 * time.Second
)

// childStartTimeout bounds a child's start, which compiles PDFium when the
// compilation cache is cold (5 s on one core, more under the race detector).
const childStartTimeout = 5 * time.Minute

// IsolatedPDF opens PDF files with PDFium in child processes of this one:
// this binary re-executed (see childEnv), one document at a time each, at
// most PDFConfig.Instances at once. It implements [Opener] and is safe for
// concurrent use; create one per process and Close it on shutdown.
//
// Inside a child PDFium runs with the interrupt off, 3-4 times as fast as
// [PDF] with it on (BenchmarkExtract), and a call whose context ends is
// stopped by killing the child: the Document's call returns the context's
// error at once, later calls fail, and a fresh child takes the dead one's
// place. A stuck page so costs one process, never this one's garbage
// collector or other documents, and a crash in PDFium costs a retry
// ([ErrChildExited]). Each child's memory goes back to the system when it
// exits; PDFConfig.RecyclePages and MaxMemory bound it meanwhile, as in
// [PDF].
type IsolatedPDF struct {
	exe    string
	config string // the children's childConfig, JSON
	log    io.Writer
	slots  chan struct{} // one per open document: PDFConfig.Instances

	mu     sync.Mutex
	idle   []*child // the most recently used last
	live   map[*child]struct{}
	closed bool
	done   chan struct{} // closed by Close: stops the reaper
	// idleTimeout and idleCheck are childIdleTimeout and childIdleCheck
	// when p was made.
	idleTimeout, idleCheck time.Duration

	started atomic.Int64
}

// Idle children beyond the first are stopped after childIdleTimeout
// without a document, checked every childIdleCheck: each holds some 40 MB
// of its own (pdfium's compiled code and its Go heap), which an idle
// worker of an autoscaled fleet should not keep.
var (
	childIdleTimeout = time.Minute
	childIdleCheck   = 15 * time.Second
)

var _ Opener = (*IsolatedPDF)(nil)

// NewIsolatedPDF starts the first child, which compiles PDFium into the
// compilation cache if it is not there yet: a binary that cannot start
// children fails here, not at its first file.
func NewIsolatedPDF(cfg PDFConfig) (*IsolatedPDF, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("pipeline: find own executable for pdfium children: %w", err)
	}
	if cfg.Instances <= 0 {
		cfg.Instances = runtime.NumCPU()
	}
	dir, err := cacheDir(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	conf, err := json.Marshal(childConfig{CacheDir: dir, MaxPageChars: cfg.MaxPageChars,
		RecyclePages: cfg.RecyclePages, MaxMemory: cfg.MaxMemory})
	if err != nil {
		return nil, fmt.Errorf("pipeline: pdfium child config: %w", err)
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	p := &IsolatedPDF{exe: exe, config: string(conf), log: logw, slots: make(chan struct{}, cfg.Instances),
		live: make(map[*child]struct{}), done: make(chan struct{}),
		idleTimeout: childIdleTimeout, idleCheck: childIdleCheck}
	ctx, cancel := context.WithTimeout(context.Background(), childStartTimeout)
	defer cancel()
	c, err := p.spawn(ctx)
	if err != nil {
		return nil, err
	}
	p.addIdle(c)
	go p.reap()
	return p, nil
}

// addIdle adds c to the idle children; p.mu is held or p not yet shared.
func (p *IsolatedPDF) addIdle(c *child) {
	c.idleSince = time.Now()
	p.idle = append(p.idle, c)
}

// reap stops, every idleCheck until Close, the idle children beyond the
// most recently used one that have been idle for idleTimeout.
func (p *IsolatedPDF) reap() {
	t := time.NewTicker(p.idleCheck)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		p.mu.Lock()
		var stale []*child
		keep := p.idle[:0]
		for i, c := range p.idle {
			if i < len(p.idle)-1 && time.Since(c.idleSince) > p.idleTimeout {
				stale = append(stale, c)
				delete(p.live, c)
				continue
			}
			keep = append(keep, c)
		}
		p.idle = keep
		p.mu.Unlock()
		for _, c := range stale {
			c.stop()
		}
	}
}

// Started returns the number of child processes started so far.
func (p *IsolatedPDF) Started() int64 { return p.started.Load() }

// Close kills every child, those of documents still open included, whose
// later calls fail. Later calls return nil.
func (p *IsolatedPDF) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	live := make([]*child, 0, len(p.live))
	for c := range p.live {
		live = append(live, c)
	}
	p.idle = nil
	p.mu.Unlock()
	for _, c := range live {
		c.stop()
	}
	return nil
}

// Open opens the PDF in r, whose length is size, in a child process,
// waiting for a free one while ctx allows. The child reads the file by
// name when r is a file on disk (as the worker's input cache gives); any
// other r is first copied to a temporary file, removed on Close. Errors
// are those of [PDF.Open], or [ErrChildExited].
func (p *IsolatedPDF) Open(ctx context.Context, r io.ReadSeeker, size int64) (Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pipeline: open pdf: %w", err)
	}
	if size <= 0 {
		return nil, fmt.Errorf("pipeline: open pdf: empty file: %w", ErrInvalidInput)
	}
	path, tmp, err := localPath(r, size)
	if err != nil {
		return nil, err
	}
	d, err := p.open(ctx, path)
	if err != nil {
		if tmp != "" {
			_ = os.Remove(tmp)
		}
		return nil, err
	}
	d.tmp = tmp
	return d, nil
}

func (p *IsolatedPDF) open(ctx context.Context, path string) (*procDoc, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("pipeline: acquire pdfium process: %w", ctx.Err())
	}
	c, err := p.take(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	d := &procDoc{pdf: p, c: c}
	resp, err := d.roundTrip(ctx, appendString([]byte{opOpen}, path), "open pdf")
	if err != nil {
		d.release()
		return nil, err
	}
	r := &wireReader{b: resp}
	d.pages = int(r.u32())
	if err := r.done(); err != nil {
		d.c.stop()
		d.release()
		return nil, fmt.Errorf("pipeline: open pdf: %w", err)
	}
	return d, nil
}

// take returns an idle child, or starts one. Taking the last idle child
// starts a spare in the background while there is room for one, so that
// the next document finds a child ready rather than waiting for a start
// (about 0.2 s): a worker's ranges start together, and a fresh worker or
// one idle for a while has a single child.
func (p *IsolatedPDF) take(ctx context.Context) (*child, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("pipeline: open pdf: pdfium is closed")
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.exited() {
			spare := len(p.idle) == 0 && len(p.live) < cap(p.slots)
			p.mu.Unlock()
			if spare {
				go p.replace()
			}
			return c, nil
		}
		delete(p.live, c)
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, childStartTimeout)
	defer cancel()
	return p.spawn(ctx)
}

// put returns c to the idle children, or stops it if it is not fit for
// another document, and frees its slot. A child lost while the pool is
// open is replaced at once, so that the next document does not wait for
// a start.
func (p *IsolatedPDF) put(c *child) {
	defer func() { <-p.slots }()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed && !c.exited() && !c.killed.Load() {
		p.addIdle(c)
		return
	}
	delete(p.live, c)
	go c.stop()
	if !p.closed && len(p.live) < cap(p.slots) {
		go p.replace()
	}
}

// replace starts a child and adds it to the idle ones; it runs in the
// background.
func (p *IsolatedPDF) replace() {
	ctx, cancel := context.WithTimeout(context.Background(), childStartTimeout)
	defer cancel()
	c, err := p.spawn(ctx)
	if err != nil {
		fmt.Fprintf(p.log, "pdfium child: start a replacement: %v\n", err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= cap(p.slots) {
		go c.stop()
		delete(p.live, c)
		return
	}
	p.addIdle(c)
}

// spawn starts a child and waits for it to be ready.
func (p *IsolatedPDF) spawn(ctx context.Context) (*child, error) {
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipeline: start pdfium process: %w", err)
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		_, _ = reqR.Close(), reqW.Close()
		return nil, fmt.Errorf("pipeline: start pdfium process: %w", err)
	}
	c := &child{done: make(chan struct{}), stderr: &tailWriter{w: p.log}}
	c.cmd = exec.Command(p.exe)
	c.cmd.Env = append(os.Environ(), childEnv+"="+p.config)
	c.cmd.ExtraFiles = []*os.File{reqR, respW}
	c.cmd.Stderr = c.stderr
	c.cmd.SysProcAttr = childProcAttr()
	err = c.cmd.Start()
	_, _ = reqR.Close(), respW.Close() // the child's ends
	if err != nil {
		_, _ = reqW.Close(), respR.Close()
		return nil, fmt.Errorf("pipeline: start pdfium process: %w", err)
	}
	p.started.Add(1)
	c.reqW, c.respR = reqW, respR
	c.w, c.r = bufio.NewWriterSize(reqW, 64<<10), bufio.NewReaderSize(respR, 64<<10)
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	p.mu.Lock()
	p.live[c] = struct{}{}
	p.mu.Unlock()
	buf, err := c.receive(ctx)
	if err == nil && (len(buf) != 1 || buf[0] != respReady) {
		err = decodeResponseError(buf)
	}
	if err != nil {
		c.stop()
		p.mu.Lock()
		delete(p.live, c)
		p.mu.Unlock()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pipeline: start pdfium process: %w", ctx.Err())
		}
		return nil, fmt.Errorf("pipeline: start pdfium process: %w%s", err, c.stderr.last())
	}
	return c, nil
}

// child is one PDFium child process.
type child struct {
	cmd    *exec.Cmd
	reqW   *os.File
	respR  *os.File
	w      *bufio.Writer
	r      *bufio.Reader
	buf    []byte // the last response
	stderr *tailWriter

	killed    atomic.Bool
	done      chan struct{} // closed once the process has exited
	waitErr   error
	idleSince time.Time // when it last became idle; guarded by IsolatedPDF.mu
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// kill kills the process; its pipes then report EOF.
func (c *child) kill() {
	c.killed.Store(true)
	_ = c.cmd.Process.Kill()
}

// stop kills the process, waits for it, and closes the pipes.
func (c *child) stop() {
	c.kill()
	<-c.done
	_, _ = c.reqW.Close(), c.respR.Close()
}

// send writes req; receive reads its answer.
func (c *child) send(req []byte) error {
	if c.killed.Load() || c.exited() {
		return errors.New("the process is gone")
	}
	if err := writeFrame(c.w, req); err != nil {
		c.kill()
		return err
	}
	return nil
}

// receive reads the answer to the request sent last; the frame is valid
// until the next receive. If ctx ends first, the child is killed.
func (c *child) receive(ctx context.Context) ([]byte, error) {
	stop := context.AfterFunc(ctx, c.kill)
	var err error
	c.buf, err = readFrame(c.r, c.buf)
	stop()
	if err != nil {
		c.kill()
		return nil, err
	}
	return c.buf, nil
}

// death describes how the process ended, waiting a moment for it to.
func (c *child) death() string {
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
		return fmt.Sprintf("pid %d", c.cmd.Process.Pid)
	}
	state := "exited"
	if c.waitErr != nil {
		state = c.waitErr.Error()
	}
	return fmt.Sprintf("pid %d %s%s", c.cmd.Process.Pid, state, c.stderr.last())
}

// procDoc is a Document open in a child process.
//
// It reads ahead: after two pages read in a row (n-1, then n: a run of
// text-layer pages), it asks the child for page n+1 before returning page
// n, so that the child extracts the next page while the caller lays this
// one out. Page(n+1) then waits only for what is left of it, under its
// own context; any other call first takes the answer in and keeps it for
// Page(n+1). A page read ahead that never gets asked for costs the child
// one page of work, once at the end of a caller's run.
type procDoc struct {
	pdf    *IsolatedPDF
	c      *child // nil once released
	pages  int
	tmp    string // a temporary copy of the file, removed on Close
	closed bool

	last   int       // the page the last call read; 0 after any other call
	ahead  int       // the page asked for ahead and not yet taken in; 0 if none
	cached *pageRead // a page taken in ahead of its call
}

// pageRead is the outcome of reading a page ahead.
type pageRead struct {
	n    int
	page *Page
	err  error
}

func (d *procDoc) PageCount() int { return d.pages }

// Page extracts page n as [PDF]'s Page does.
func (d *procDoc) Page(ctx context.Context, n int) (*Page, error) {
	p, err := d.page(ctx, n)
	if err == nil && d.last == n-1 && n < d.pages && d.c != nil && !d.closed {
		if d.c.send(appendU32([]byte{opPage}, uint32(n+1))) == nil {
			d.ahead = n + 1
		}
	}
	d.last = 0
	if err == nil {
		d.last = n
	}
	return p, err
}

// page reads page n: from the page read ahead, or from the child.
func (d *procDoc) page(ctx context.Context, n int) (*Page, error) {
	const what = "read"
	if r := d.cached; r != nil && r.n == n {
		d.cached = nil
		return r.page, r.err
	}
	var resp []byte
	var err error
	if d.ahead == n && d.c != nil && !d.closed {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("pipeline: %s pdf page %d: %w", what, n, err)
		}
		d.ahead = 0
		resp, err = d.answer(ctx, fmt.Sprintf("%s pdf page %d", what, n))
	} else {
		if err := d.settle(ctx); err != nil { // a page read ahead that is not n
			return nil, err
		}
		resp, err = d.pageCall(ctx, n, what, appendU32([]byte{opPage}, uint32(n)))
	}
	if err != nil {
		return nil, err
	}
	return decodePageAnswer(n, resp)
}

// decodePageAnswer decodes the child's answer of page n.
func decodePageAnswer(n int, resp []byte) (*Page, error) {
	p, err := decodePage(resp)
	if err != nil {
		return nil, fmt.Errorf("pipeline: read pdf page %d: %w", n, err)
	}
	return p, nil
}

// settle takes in the answer of a page read ahead and keeps it for its
// Page call, so that another request can go to the child. It fails, and
// the Document becomes unusable, only if the child dies or ctx ends.
func (d *procDoc) settle(ctx context.Context) error {
	if d.ahead == 0 || d.c == nil {
		return nil
	}
	n := d.ahead
	d.ahead = 0
	resp, err := d.answer(ctx, fmt.Sprintf("read pdf page %d", n))
	if d.c == nil { // the child died or ctx ended
		return err
	}
	r := &pageRead{n: n, err: err}
	if err == nil {
		r.page, r.err = decodePageAnswer(n, resp)
	}
	d.cached = r
	return nil
}

// Raster returns page n as an image for OCR, as [PDF]'s Raster does.
func (d *procDoc) Raster(ctx context.Context, n int, opts RasterOptions) (*Raster, error) {
	d.last = 0
	if err := d.settle(ctx); err != nil {
		return nil, err
	}
	req := appendU32([]byte{opRaster}, uint32(n))
	req = appendU64(appendU32(req, uint32(max(opts.DPI, 0))), uint64(max(opts.MaxPixels, 0)))
	resp, err := d.pageCall(ctx, n, "render", req)
	if err != nil {
		return nil, err
	}
	r, err := decodeRaster(resp)
	if err != nil {
		return nil, fmt.Errorf("pipeline: render pdf page %d: %w", n, err)
	}
	return r, nil
}

// SampleFonts samples the document's fonts in the child, as [PDF]'s
// documents do (see [FontSampler]).
func (d *procDoc) SampleFonts(ctx context.Context, pages []int) (*Fonts, error) {
	d.last = 0
	if err := checkSamplePages(len(pages)); err != nil {
		return nil, err
	}
	if err := d.settle(ctx); err != nil {
		return nil, err
	}
	req := appendU32([]byte{opFonts}, uint32(len(pages)))
	for _, n := range pages {
		if n < 1 || n > d.pages {
			return nil, fmt.Errorf("pipeline: sample fonts of pdf page %d: out of range 1..%d", n, d.pages)
		}
		req = appendU32(req, uint32(n))
	}
	resp, err := d.pageCall(ctx, pages[0], "sample fonts of", req)
	if err != nil {
		return nil, err
	}
	return decodeFonts(resp)
}

// pageCall checks n and sends req, which does what to page n.
func (d *procDoc) pageCall(ctx context.Context, n int, what string, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pipeline: %s pdf page %d: %w", what, n, err)
	}
	if d.closed || d.c == nil {
		return nil, fmt.Errorf("pipeline: %s pdf page %d: document is closed", what, n)
	}
	if n < 1 || n > d.pages {
		return nil, fmt.Errorf("pipeline: %s pdf page %d: out of range 1..%d", what, n, d.pages)
	}
	return d.roundTrip(ctx, req, fmt.Sprintf("%s pdf page %d", what, n))
}

// roundTrip sends req to the child and returns the OK response's payload.
// If the child dies or ctx ends meanwhile, the child is released (and
// replaced) and the Document becomes unusable.
func (d *procDoc) roundTrip(ctx context.Context, req []byte, what string) ([]byte, error) {
	if err := d.c.send(req); err != nil {
		return nil, d.lost(ctx, what)
	}
	return d.answer(ctx, what)
}

// answer reads the answer to the request sent last, as roundTrip does.
func (d *procDoc) answer(ctx context.Context, what string) ([]byte, error) {
	resp, err := d.c.receive(ctx)
	if err != nil {
		return nil, d.lost(ctx, what)
	}
	if resp[0] == respOK {
		return resp[1:], nil
	}
	return nil, decodeResponseError(resp)
}

// lost releases the child, killed because ctx ended or gone by itself
// while doing what, and returns the error of that.
func (d *procDoc) lost(ctx context.Context, what string) error {
	c := d.c
	d.release()
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("pipeline: %s: %w", what, cerr)
	}
	return fmt.Errorf("pipeline: %s: %w (%s)", what, ErrChildExited, c.death())
}

// decodeResponseError decodes an error response.
func decodeResponseError(resp []byte) error {
	r := &wireReader{b: resp}
	if r.byte() != respErr {
		return fmt.Errorf("unexpected response %q from the pdfium process", resp[:min(len(resp), 8)])
	}
	kind, msg := r.byte(), r.string()
	if err := r.done(); err != nil {
		return fmt.Errorf("bad error response from the pdfium process: %w", err)
	}
	return newChildError(kind, msg)
}

// release gives the child back to the pool: an idle child if it is fit
// for another document, else stopped and replaced.
func (d *procDoc) release() {
	if d.c != nil {
		d.pdf.put(d.c)
		d.c = nil
	}
}

// Close closes the document in its child and returns the child to the
// pool. It is safe to call more than once.
func (d *procDoc) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	var err error
	if d.c != nil {
		// A page read ahead is taken in first (a hostile one gets its
		// child killed at the timeout). Closing discards the document's
		// PDFium instance: bounded work, but a hostile file's close must
		// not hang the caller either.
		sctx, cancel := context.WithTimeout(context.Background(), settleOnClose)
		serr := d.settle(sctx)
		cancel()
		if serr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			_, err = d.roundTrip(ctx, []byte{opClose}, "close pdf")
			cancel()
		}
		d.release()
	}
	if d.tmp != "" {
		_ = os.Remove(d.tmp)
	}
	return err
}

// localPath returns the name of the file r reads, or of a temporary copy
// of r (tmp, which the caller removes).
func localPath(r io.ReadSeeker, size int64) (path, tmp string, err error) {
	if f, ok := r.(interface{ Name() string }); ok {
		if st, err := os.Stat(f.Name()); err == nil && st.Mode().IsRegular() && st.Size() == size {
			return f.Name(), "", nil
		}
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return "", "", fmt.Errorf("pipeline: read pdf: %w", err)
	}
	t, err := os.CreateTemp("", "folio-*.pdf")
	if err != nil {
		return "", "", fmt.Errorf("pipeline: copy pdf for the pdfium process: %w", err)
	}
	_, err = io.Copy(t, io.LimitReader(r, size))
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(t.Name())
		return "", "", fmt.Errorf("pipeline: copy pdf for the pdfium process: %w", err)
	}
	return t.Name(), t.Name(), nil
}

// tailWriter passes what a child writes on stderr to w and keeps its last
// line, for the error of a child that died.
type tailWriter struct {
	w    io.Writer
	mu   sync.Mutex
	tail []byte
}

func (t *tailWriter) Write(b []byte) (int, error) {
	_, _ = t.w.Write(b)
	t.mu.Lock()
	t.tail = append(t.tail, b...)
	if len(t.tail) > 4096 {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-2048:]...)
	}
	t.mu.Unlock()
	return len(b), nil
}

// last returns ": " and the last non-empty line written, or "".
func (t *tailWriter) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.tail)), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return ": " + l
	}
	return ""
}
