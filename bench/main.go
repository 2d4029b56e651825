// Command bench measures Folio's throughput side by side with reference
// tools on the same pages and the same cores, and prints a table.
//
//	go run ./bench                       # R-intro.pdf from Debian's r-doc-pdf
//	go run ./bench -pdf big.pdf -runs 5
//
// Rows:
//   - folio end to end: the api and worker processes, Redis and an in-process
//     GCS emulator; wall time from POST to done, outputs written;
//   - folio pipeline in-process: extract, assemble and encode every page, no
//     queue or storage;
//   - pdfium text extraction alone, one instance per core;
//   - pdftotext -bbox-layout, one process per core (poppler-utils).
//
// It needs Redis (REDIS_URL, default redis://127.0.0.1:6379/12; it uses its
// own key prefix and queue and removes them) and the Go toolchain.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/redis/go-redis/v9"

	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/pipeline"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name  string
	pages int
	took  time.Duration
	note  string
}

func (r result) rate() float64 { return float64(r.pages) / r.took.Seconds() }

func run() error {
	pdfPath := flag.String("pdf", "/usr/share/R/doc/manual/R-intro.pdf", "born-digital PDF to measure")
	runs := flag.Int("runs", 3, "runs of each measurement; the median is reported")
	batch := flag.Int("batch", 20, "outputConfig.batchSize")
	cores := flag.Int("cores", runtime.NumCPU(), "cores to use: worker concurrency, pdfium instances, pdftotext processes")
	redisURL := flag.String("redis-url", envOr("REDIS_URL", "redis://127.0.0.1:6379/12"), "Redis for the end-to-end run")
	flag.Parse()

	data, err := os.ReadFile(*pdfPath)
	if err != nil {
		return fmt.Errorf("read the PDF to measure (install r-doc-pdf or pass -pdf): %w", err)
	}
	pdf, err := pipeline.NewPDF(pipeline.PDFConfig{Instances: *cores})
	if err != nil {
		return err
	}
	defer pdf.Close()
	pages, err := countPages(pdf, data)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d pages, %d bytes; %d cores; median of %d runs\n\n", filepath.Base(*pdfPath), pages, len(data), *cores, *runs)

	var results []result
	e2e, rss, err := endToEnd(data, pages, *batch, *cores, *runs, *redisURL)
	if err != nil {
		return fmt.Errorf("end to end: %w", err)
	}
	results = append(results, e2e...)
	r, err := median(*runs, func() (result, error) { return inProcess(pdf, data, pages, *cores, true) })
	if err != nil {
		return err
	}
	results = append(results, r)
	r, err = median(*runs, func() (result, error) { return inProcess(pdf, data, pages, *cores, false) })
	if err != nil {
		return err
	}
	results = append(results, r)
	var ref *result
	if _, err := exec.LookPath("pdftotext"); err == nil {
		r, err := median(*runs, func() (result, error) { return pdftotext(*pdfPath, pages, *cores) })
		if err != nil {
			return err
		}
		results = append(results, r)
		ref = &results[len(results)-1]
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "measurement\tpages/s\tvs pdftotext\tnote\t")
	for _, r := range results {
		ratio := "-"
		if ref != nil {
			ratio = fmt.Sprintf("%.2f×", r.rate()/ref.rate())
		}
		fmt.Fprintf(w, "%s\t%.1f\t%s\t%s\t\n", r.name, r.rate(), ratio, r.note)
	}
	_ = w.Flush()
	fmt.Printf("\nworker peak RSS: %s\n", strings.Join(rss, ", "))
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// median runs f n times and returns the run with the median time.
func median(n int, f func() (result, error)) (result, error) {
	var rs []result
	for range n {
		r, err := f()
		if err != nil {
			return r, err
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b result) int { return int(a.took - b.took) })
	return rs[len(rs)/2], nil
}

func countPages(pdf *pipeline.PDF, data []byte) (int, error) {
	doc, err := pdf.Open(context.Background(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return 0, err
	}
	defer doc.Close()
	return doc.PageCount(), nil
}

// inProcess extracts every page with cores goroutines, each with its own
// document; with annotate it also assembles and encodes, as a worker does.
func inProcess(pdf *pipeline.PDF, data []byte, pages, cores int, annotate bool) (result, error) {
	name := "pdfium text extraction (interrupt on)"
	if annotate {
		name = "folio pipeline in-process (interrupt on)"
	}
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, cores)
	for c := range cores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc, err := pdf.Open(context.Background(), bytes.NewReader(data), int64(len(data)))
			if err != nil {
				errc <- err
				return
			}
			defer doc.Close()
			features := []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}}
			for n := c + 1; n <= pages; n += cores {
				p, err := doc.Page(context.Background(), n)
				if err != nil {
					errc <- err
					return
				}
				if annotate {
					resp := pipeline.AnnotatePage(p, features, "gs://b/in.pdf")
					if _, err := pipeline.EncodeFileResponse(pipeline.NewFileResponse(nil, []*visionpb.AnnotateImageResponse{resp})); err != nil {
						errc <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return result{}, err
	}
	return result{name: name, pages: pages, took: time.Since(start), note: fmt.Sprintf("%d goroutines", cores)}, nil
}

// pdftotext runs one pdftotext -bbox-layout process per core over a share
// of the pages.
func pdftotext(path string, pages, cores int) (result, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, cores)
	per := (pages + cores - 1) / cores
	for c := range cores {
		first, last := c*per+1, min((c+1)*per, pages)
		if first > last {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("pdftotext", "-bbox-layout", "-f", strconv.Itoa(first), "-l", strconv.Itoa(last), path, "-")
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				errc <- fmt.Errorf("pdftotext: %w", err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return result{}, err
	}
	return result{name: "pdftotext -bbox-layout", pages: pages, took: time.Since(start), note: fmt.Sprintf("%d processes", cores)}, nil
}

// endToEnd runs the api and one worker as processes and measures submit to
// done for the whole file.
func endToEnd(data []byte, pages, batch, cores, runs int, redisURL string) ([]result, []string, error) {
	dir, err := os.MkdirTemp("", "folio-bench-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		return nil, nil, err
	}
	binDir, wasm := filepath.Join(dir, "bin"), filepath.Join(dir, "wazero")
	if err := localrun.Build(root, binDir, wasm); err != nil {
		return nil, nil, err
	}

	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, nil, err
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	prefix, queue := "bench:"+id+":", "bench-"+id
	defer cleanRedis(rdb, prefix, queue)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	host := fmt.Sprintf("127.0.0.1:%d", port)
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: uint16(port), PublicHost: host,
	})
	if err != nil {
		return nil, nil, err
	}
	defer gcs.Stop()
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "bench"})
	gcs.CreateObject(fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "bench", Name: "in.pdf", ContentType: "application/pdf"},
		Content:     data,
	})

	c, err := localrun.Start(localrun.Options{
		BinDir: binDir, LogDir: dir, RedisURL: redisURL, KeyPrefix: prefix, Queue: queue,
		StorageHost: host, WasmCache: wasm, Env: []string{"LOG_LEVEL=warn"},
	})
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	n := 0
	var rs []result
	var rss []string
	for _, interrupt := range []bool{true, false} {
		// Compile this pdfium variant ahead, as the Docker image does, so the
		// first run does not pay for it.
		warm := exec.Command(filepath.Join(binDir, "worker"), "-warmup", "-pdfium-cache-dir", wasm,
			"-pdfium-interrupt="+strconv.FormatBool(interrupt))
		if out, err := warm.CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("worker -warmup: %v\n%s", err, out)
		}
		worker, err := c.StartWorker("WORKER_CONCURRENCY="+strconv.Itoa(cores), "PDFIUM_INTERRUPT="+strconv.FormatBool(interrupt))
		if err != nil {
			return nil, nil, err
		}
		time.Sleep(time.Second) // let the worker connect
		r, err := median(runs, func() (result, error) {
			n++
			dest := fmt.Sprintf("gs://bench/out/%d/", n)
			took, err := submitAndWait(c.API, "gs://bench/in.pdf", dest, batch)
			if err != nil {
				return result{}, err
			}
			objs, _, err := gcs.ListObjects("bench", fmt.Sprintf("out/%d/", n), "", false)
			if err != nil {
				return result{}, err
			}
			if want := (pages + batch - 1) / batch; len(objs) != want {
				return result{}, fmt.Errorf("run %d wrote %d output files, want %d", n, len(objs), want)
			}
			return result{name: fmt.Sprintf("folio end to end, PDFIUM_INTERRUPT=%t", interrupt), pages: pages, took: took,
				note: fmt.Sprintf("1 worker × %d, batchSize %d, api+Redis+GCS emulator", cores, batch)}, nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w (logs: %s)", err, strings.Join(c.Logs(), " "))
		}
		rs = append(rs, r)
		rss = append(rss, fmt.Sprintf("%s (PDFIUM_INTERRUPT=%t)", peakRSS(worker.Process.Pid), interrupt))
		// Drain this worker before the next one starts.
		_ = worker.Process.Signal(syscall.SIGTERM)
		<-worker.Done
	}
	return rs, rss, nil
}

// submitAndWait posts one request and polls the operation every 10 ms.
func submitAndWait(api, src, dest string, batch int) (time.Duration, error) {
	body := fmt.Sprintf(`{"requests":[{"inputConfig":{"gcsSource":{"uri":%q},"mimeType":"application/pdf"},`+
		`"features":[{"type":"DOCUMENT_TEXT_DETECTION"}],"outputConfig":{"gcsDestination":{"uri":%q},"batchSize":%d}}]}`,
		src, dest, batch)
	start := time.Now()
	resp, err := http.Post(api+"/v1/files:asyncBatchAnnotate", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	var op struct {
		Name  string          `json:"name"`
		Done  bool            `json:"done"`
		Error json.RawMessage `json:"error"`
	}
	err = json.NewDecoder(resp.Body).Decode(&op)
	_ = resp.Body.Close()
	if err != nil || op.Name == "" {
		return 0, fmt.Errorf("submit: status %d: %v", resp.StatusCode, err)
	}
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(api + "/v1/" + op.Name)
		if err != nil {
			return 0, err
		}
		err = json.NewDecoder(resp.Body).Decode(&op)
		_ = resp.Body.Close()
		if err != nil {
			return 0, err
		}
		if op.Done {
			if len(op.Error) > 0 {
				return 0, fmt.Errorf("operation failed: %s", op.Error)
			}
			return time.Since(start), nil
		}
	}
	return 0, errors.New("operation not done after 10 minutes")
}

func cleanRedis(rdb *redis.Client, prefix, queue string) {
	ctx := context.Background()
	for _, pattern := range []string{prefix + "*", "asynq:{" + queue + "}*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	}
	rdb.SRem(ctx, "asynq:queues", queue)
}

// peakRSS reads a live process's peak resident set size from /proc.
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// moduleRoot is the directory of go.mod, found from the working directory.
func moduleRoot() (string, error) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run bench inside the Folio module")
	}
	return filepath.Dir(mod), nil
}
