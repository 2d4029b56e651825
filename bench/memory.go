package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
)

const memorySet = "memory"

// memoryRows measures whether a worker's memory depends on the length of the
// file it works on: for each page count of -memory, Folio end to end on a
// scanned PDF of that many pages (the scanned set's page images cycled, each
// page its own image object, as a long scan is) and on a born-digital one
// (-pdf's pages cycled with qpdf), each on a fresh worker with the same
// batchSize (-memory-batch) and default unit size. The rows' peak RSS is the
// answer; pages/s and CER show the work was done.
func memoryRows(ctx context.Context, cfg config, dep *lazyDeployment) ([]*row, string) {
	var rows []*row
	d, derr := dep.get(ctx)
	var (
		c    *corpus
		cerr error
	)
	if pkg := missingTool(corpusTools...); pkg != "" {
		cerr = fmt.Errorf("%w (install %s to build the corpus)", errSkipped, pkg)
	} else {
		c = newCorpus(cfg.corpusDir, cfg.scanSrc, cfg.scanFirst, cfg.scanPages)
		cerr = c.load(ctx, cfg.cores)
	}
	for _, n := range cfg.memory {
		scanned, born := memoryName("scanned", n), memoryName("born-digital", n)
		switch {
		case derr != nil:
			rows = append(rows, problemRow(memorySet, "", scanned, derr), problemRow(memorySet, "", born, derr))
			continue
		case cerr != nil:
			rows = append(rows, problemRow(memorySet, "", scanned, cerr))
		default:
			rows = append(rows, memoryScannedRow(ctx, d, c, cfg, n))
		}
		rows = append(rows, memoryBornRow(ctx, d, cfg, n))
	}
	fact := fmt.Sprintf("memory set: the scanned set's pages and `%s`'s pages cycled to %s pages, batchSize %d, "+
		"one fresh worker per row; built into `%s`", filepath.Base(cfg.pdf), joinInts(cfg.memory), cfg.memoryBatch,
		filepath.Join(cfg.corpusDir, "memory"))
	return rows, fact
}

func memoryName(kind string, pages int) string {
	return fmt.Sprintf("**Folio end to end**, %s, %d pages", kind, pages)
}

// memoryScannedRow builds (or reuses) a scanned PDF of n pages from the
// corpus images and measures one run of it.
func memoryScannedRow(ctx context.Context, d *deployment, c *corpus, cfg config, n int) *row {
	name := memoryName("scanned", n)
	path := filepath.Join(cfg.corpusDir, "memory", fmt.Sprintf("%s-scanned-%d.pdf", filepath.Base(c.dir), n))
	err := buildOnce(path, func(tmp string) error {
		args := []string{"--output", tmp}
		for i := range n {
			args = append(args, c.images[i%len(c.images)])
		}
		_, err := runTool(ctx, nil, "img2pdf", args...)
		return err
	})
	if err != nil {
		return problemRow(memorySet, "", name, err)
	}
	truth := make([]string, n)
	for i := range truth {
		truth[i] = c.truth[i%len(c.truth)]
	}
	return memoryRun(ctx, d, cfg, name, path, n, func(resps []*visionpb.AnnotateImageResponse) *cerStats {
		return folioCER(truth, resps)
	})
}

// memoryBornRow builds (or reuses) a born-digital PDF of n pages from -pdf
// and measures one run of it.
func memoryBornRow(ctx context.Context, d *deployment, cfg config, n int) *row {
	name := memoryName("born-digital", n)
	if pkg := missingTool("qpdf"); pkg != "" {
		return skippedRow(memorySet, "", name, "skipped (install "+pkg+")")
	}
	src := cfg.pdf
	out, err := runTool(ctx, nil, "qpdf", "--show-npages", src)
	if err != nil {
		return problemRow(memorySet, "", name, err)
	}
	srcPages, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || srcPages < 1 {
		return problemRow(memorySet, "", name, fmt.Errorf("qpdf --show-npages %s: %q", src, out))
	}
	base := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	path := filepath.Join(cfg.corpusDir, "memory", fmt.Sprintf("%s-%d.pdf", base, n))
	err = buildOnce(path, func(tmp string) error {
		args := []string{"--empty", "--pages"}
		for left := n; left > 0; left -= srcPages {
			args = append(args, src, fmt.Sprintf("1-%d", min(left, srcPages)))
		}
		_, err := runTool(ctx, nil, "qpdf", append(args, "--", tmp)...)
		return err
	})
	if err != nil {
		return problemRow(memorySet, "", name, err)
	}
	return memoryRun(ctx, d, cfg, name, path, n, nil)
}

// memoryRun uploads the PDF at path and measures one run of it on a fresh
// worker; cer, if not nil, scores the outputs.
func memoryRun(ctx context.Context, d *deployment, cfg config, name, path string, pages int,
	cer func([]*visionpb.AnnotateImageResponse) *cerStats) *row {
	data, err := os.ReadFile(path)
	if err != nil {
		return problemRow(memorySet, "", name, err)
	}
	object := filepath.Base(path)
	d.upload(object, data)
	w, err := d.startWorker(ctx, cfg)
	if err != nil {
		return problemRow(memorySet, "", name, err)
	}
	r := measured(memorySet, "", name, 1, func() (*row, error) {
		took, resps, err := d.annotate(ctx, object, pages, cfg.memoryBatch)
		if err != nil {
			return nil, err
		}
		r := &row{pages: pages, took: took}
		if cer != nil {
			r.cer = cer(resps)
		}
		r.failed, r.failure = pageFailures(resps)
		return r, nil
	})
	r.rss = w.stop()
	r.note = fmt.Sprintf("%s; %.1f MB file", workerNote(cfg, cfg.memoryBatch), float64(len(data))/1e6)
	return r
}

// buildOnce makes the file at path with build, which writes a temporary
// sibling that is renamed into place, unless path exists already.
func buildOnce(path string, build func(tmp string) error) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	defer os.Remove(tmp)
	logf("building %s", path)
	if err := build(tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// joinInts formats ns as "10, 100 and 2000".
func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
