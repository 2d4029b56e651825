package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// childEnv, in a process's environment, makes it a PDFium child process
// (see [IsolatedPDF]): the package's init serves the wire on file
// descriptors 3 (requests) and 4 (responses) and exits, before main or any
// test runs. Its value is the child's configuration, JSON of childConfig.
// Any binary that links this package can so be re-executed as a child,
// the worker, the CLI and test binaries alike, and none can forget to be.
const childEnv = "FOLIO_PDFIUM_CHILD"

// childConfig is what a child needs of the worker's PDFConfig.
type childConfig struct {
	CacheDir     string `json:"cacheDir"`
	MaxPageChars int    `json:"maxPageChars"`
	RecyclePages int    `json:"recyclePages"`
	MaxMemory    int64  `json:"maxMemory"`
}

func init() {
	if v, ok := os.LookupEnv(childEnv); ok {
		os.Exit(serveChild(v))
	}
}

// serveChild runs a child process: one PDFium instance with the interrupt
// off, serving one document at a time until its request pipe closes (the
// worker closed it, or exited). It returns the exit code.
func serveChild(config string) int {
	in := bufio.NewReaderSize(os.NewFile(3, "requests"), 64<<10)
	out := bufio.NewWriterSize(os.NewFile(4, "responses"), 64<<10)
	var cfg childConfig
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "pdfium child: bad %s: %v\n", childEnv, err)
		return 2
	}
	pdf, err := NewPDF(PDFConfig{Instances: 1, CacheDir: cfg.CacheDir, MaxPageChars: cfg.MaxPageChars,
		RecyclePages: cfg.RecyclePages, MaxMemory: cfg.MaxMemory, DisableInterrupt: true, Log: os.Stderr})
	if err != nil {
		_ = writeFrame(out, appendError(nil, err))
		return 1
	}
	defer func() { _ = pdf.Close() }()
	if err := writeFrame(out, []byte{respReady}); err != nil {
		return 1
	}
	s := &childServer{pdf: pdf}
	defer s.closeDoc()
	var req, resp []byte
	for {
		req, err = readFrame(in, req)
		if err != nil {
			return 0 // the worker closed the pipe, or exited: nobody to answer
		}
		resp = s.serve(resp[:0], req)
		if err := writeFrame(out, resp); err != nil {
			return 0
		}
	}
}

// childServer holds the child's one open document.
type childServer struct {
	pdf  *PDF
	file *os.File
	doc  Document
}

// serve answers one request, appending the response to b.
func (s *childServer) serve(b, req []byte) []byte {
	r := &wireReader{b: req}
	op := r.byte()
	ctx := context.Background()
	switch op {
	case opOpen:
		path := r.string()
		if err := r.done(); err != nil {
			return appendError(b, err)
		}
		s.closeDoc()
		n, err := s.open(ctx, path)
		if err != nil {
			return appendError(b, err)
		}
		return appendU32(append(b, respOK), uint32(n))
	case opPage, opRaster:
		n := int(r.u32())
		var opts RasterOptions
		if op == opRaster {
			opts.DPI, opts.MaxPixels = int(r.u32()), int(r.u64())
		}
		if err := r.done(); err != nil {
			return appendError(b, err)
		}
		if s.doc == nil {
			return appendError(b, errors.New("pipeline: no document is open"))
		}
		if op == opPage {
			p, err := s.doc.Page(ctx, n)
			if err != nil {
				return appendError(b, err)
			}
			return appendPage(append(b, respOK), p)
		}
		ra, err := s.doc.Raster(ctx, n, opts)
		if err != nil {
			return appendError(b, err)
		}
		return appendRaster(append(b, respOK), ra)
	case opFonts:
		k := r.u32()
		if err := checkSamplePages(int(k)); err != nil {
			return appendError(b, err)
		}
		pages := make([]int, k)
		for i := range pages {
			pages[i] = int(r.u32())
		}
		if err := r.done(); err != nil {
			return appendError(b, err)
		}
		fs, ok := s.doc.(FontSampler)
		if !ok {
			return appendError(b, errors.New("pipeline: no document is open"))
		}
		f, err := fs.SampleFonts(ctx, pages)
		if err != nil {
			return appendError(b, err)
		}
		return appendFonts(append(b, respOK), f)
	case opClose:
		s.closeDoc()
		return append(b, respOK)
	}
	return appendError(b, fmt.Errorf("pipeline: unknown request %q", op))
}

// open opens the PDF at path.
func (s *childServer) open(ctx context.Context, path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("pipeline: open pdf: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return 0, fmt.Errorf("pipeline: open pdf: %w", err)
	}
	doc, err := s.pdf.Open(ctx, f, st.Size())
	if err != nil {
		_ = f.Close()
		return 0, err
	}
	s.file, s.doc = f, doc
	return doc.PageCount(), nil
}

func (s *childServer) closeDoc() {
	if s.doc != nil {
		_ = s.doc.Close()
		s.doc = nil
	}
	if s.file != nil {
		_ = s.file.Close()
		s.file = nil
	}
}

// appendError appends the error response of err.
func appendError(b []byte, err error) []byte {
	return appendString(append(b, respErr, errorKind(err)), err.Error())
}
