package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/folio-ocr/folio/internal/cli/display"
	"github.com/folio-ocr/folio/internal/cli/inputs"
	"github.com/folio-ocr/folio/internal/cli/objects"
	"github.com/folio-ocr/folio/internal/cli/remote"
	"github.com/folio-ocr/folio/internal/cli/results"
	"github.com/folio-ocr/folio/internal/cli/resume"
	"github.com/folio-ocr/folio/progresspb"
)

// file is one input of an annotate run.
type file struct {
	src    inputs.Source
	key    string // resume.FileKey
	input  string // gs:// URI the request reads
	object string // object a local file is uploaded to; "" for gs:// inputs
	dest   string // gs:// output prefix

	op          string // operation that holds it now; "" while pending
	attempts    int    // submissions in this run
	finished    bool   // written, skipped or failed
	uploaded    bool
	pagesTotal  int
	pagesDone   int
	pagesFailed int
}

// opTrack is an operation the run follows.
type opTrack struct {
	name  string
	files []*file
}

// run is one annotate run.
type run struct {
	env Env
	// polling, if set, is called when the run first waits in its polling
	// loop: signals are the loop's from then on (see interruptEarly).
	polling     func()
	client      *remote.Client
	store       *objects.Store
	disp        display.Display
	out         string
	state       *resume.State
	files       []*file
	features    []visionpb.Feature_Type
	langs       []string
	batchSize   int32
	perOp       int
	poll        time.Duration
	maxAttempts int
	bucket      string
	prefix      string
	interactive bool
	start       time.Time

	ops        map[string]*opTrack
	noProgress bool // the endpoint has no progress extension
	cancelled  bool // the user had the operations cancelled

	written, skipped int
	pagesWritten     int
	failures         []results.Failure
}

// execute decides what to do with each file, then submits and follows
// operations until every file is finished.
func (r *run) execute(ctx context.Context) error {
	var follow, submit int
	for _, f := range r.files {
		e, ok := r.state.Files[f.src.Name]
		switch resume.Decide(e, ok, f.key, resultsExist(r.out, f.src.Name)) {
		case resume.Skip:
			f.finished = true
			f.pagesTotal, f.pagesDone, f.pagesFailed = e.Pages, e.Pages, len(e.FailedPages)
			r.skipped++
			for _, pe := range e.FailedPages {
				r.failures = append(r.failures, results.Failure{Name: f.src.Name, Input: f.src.Origin(), Page: pe.Page, Message: pe.Message})
			}
		case resume.Follow:
			f.op = e.Operation
			t := r.ops[f.op]
			if t == nil {
				t = &opTrack{name: f.op}
				r.ops[f.op] = t
			}
			t.files = append(t.files, f)
			follow++
		default:
			submit++
		}
	}
	r.disp.Println(fmt.Sprintf("%d files: %d complete already, %d in %d running operations, %d to submit",
		len(r.files), r.skipped, follow, len(r.ops), submit))
	r.update()

	sigs := r.env.Signals
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	for {
		if err := r.submitPending(ctx); err != nil {
			return err
		}
		if len(r.ops) == 0 {
			return nil
		}
		for _, t := range r.opsSorted() {
			if err := r.pollOp(ctx, t); err != nil {
				return err
			}
		}
		r.update()
		if len(r.ops) == 0 && r.pending() == 0 {
			return nil
		}
		if r.polling != nil {
			r.polling() // signals are this loop's from here on
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case sig := <-sigs:
			if err := r.interrupted(ctx, sig); err != nil {
				return err
			}
		case <-tick.C:
		}
	}
}

// opsSorted returns the followed operations by name.
func (r *run) opsSorted() []*opTrack {
	ts := make([]*opTrack, 0, len(r.ops))
	for _, t := range r.ops {
		ts = append(ts, t)
	}
	sortBy(ts, func(t *opTrack) string { return t.name })
	return ts
}

// pending returns the number of files waiting to be submitted.
func (r *run) pending() int {
	n := 0
	for _, f := range r.files {
		if !f.finished && f.op == "" {
			n++
		}
	}
	return n
}

// update shows the run's figures.
func (r *run) update() {
	var s display.Stats
	s.FilesTotal = len(r.files)
	for _, f := range r.files {
		if f.finished {
			s.FilesDone++
		}
		s.PagesTotal += f.pagesTotal
		s.PagesDone += f.pagesDone
		s.PagesFailed += f.pagesFailed
	}
	if r.noProgress { // pages of finished files only: count files
		s.PagesDone, s.PagesTotal, s.PagesFailed = 0, 0, 0
	}
	r.disp.Update(s)
}

// submitPending uploads and submits the pending files, perOp at a time.
func (r *run) submitPending(ctx context.Context) error {
	var batch []*file
	for _, f := range r.files {
		if !f.finished && f.op == "" {
			batch = append(batch, f)
		}
		if len(batch) == r.perOp {
			if err := r.submit(ctx, batch); err != nil {
				return err
			}
			batch = nil
		}
	}
	if len(batch) > 0 {
		return r.submit(ctx, batch)
	}
	return nil
}

// submit uploads the local files of batch and submits them as one
// operation, keyed by their file keys, and records it in the state before
// anything else happens.
func (r *run) submit(ctx context.Context, batch []*file) error {
	if err := r.upload(ctx, batch); err != nil {
		return err
	}
	reqs := make([]*visionpb.AsyncAnnotateFileRequest, len(batch))
	keys := make([]string, len(batch))
	feats := make([]*visionpb.Feature, len(r.features))
	for i, ft := range r.features {
		feats[i] = &visionpb.Feature{Type: ft}
	}
	for i, f := range batch {
		keys[i] = f.key
		reqs[i] = &visionpb.AsyncAnnotateFileRequest{
			InputConfig:  &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: f.input}, MimeType: f.src.MIMEType},
			Features:     feats,
			OutputConfig: &visionpb.OutputConfig{GcsDestination: &visionpb.GcsDestination{Uri: f.dest}, BatchSize: r.batchSize},
		}
		if len(r.langs) > 0 {
			reqs[i].ImageContext = &visionpb.ImageContext{LanguageHints: r.langs}
		}
	}
	name, err := r.submitFresh(ctx, resume.BatchKey(keys), reqs)
	if err != nil {
		return err
	}
	t := &opTrack{name: name, files: batch}
	r.ops[name] = t
	for _, f := range batch {
		f.op = name
		f.attempts++
		r.state.Files[f.src.Name] = resume.Entry{Key: f.key, Operation: name}
	}
	if err := r.state.Save(r.out); err != nil {
		return err
	}
	r.disp.Println(fmt.Sprintf("submitted %s: %d files", name, len(batch)))
	return nil
}

// upload uploads the local files of batch not uploaded yet, four at a
// time.
func (r *run) upload(ctx context.Context, batch []*file) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, 4)
	for _, f := range batch {
		if f.object == "" || f.uploaded {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := r.store.Upload(ctx, f.src.Path, r.bucket, f.object, f.src.MIMEType)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			f.uploaded = true
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// maxResubmits bounds how many cancelled operations submitFresh steps past.
const maxResubmits = 5

// submitFresh submits reqs under the idempotency key key and returns the
// operation's name. When the key yields an operation that was cancelled
// (an earlier run's Ctrl-C), the files are submitted again under a key
// naming that operation: deterministic, so that a run interrupted now still
// finds the same new operation when resumed, and the cancel does not hold
// the files for as long as the server keeps the key.
func (r *run) submitFresh(ctx context.Context, key string, reqs []*visionpb.AsyncAnnotateFileRequest) (string, error) {
	for range maxResubmits {
		name, err := r.client.Submit(ctx, key, reqs)
		if err != nil {
			return "", err
		}
		op, err := r.client.Operation(ctx, name)
		if err != nil {
			return "", err
		}
		if !op.GetDone() || codes.Code(op.GetError().GetCode()) != codes.Canceled {
			return name, nil
		}
		r.disp.Println(fmt.Sprintf("%s was cancelled; submitting its files again", name))
		key = resume.BatchKey([]string{key, name})
	}
	return "", fmt.Errorf("submit: the last %d operations for these files were all cancelled", maxResubmits)
}

// pollOp reads the progress and state of one operation and finishes the
// files that are done.
func (r *run) pollOp(ctx context.Context, t *opTrack) error {
	if !r.noProgress {
		p, err := r.client.Progress(ctx, t.name)
		switch {
		case errors.Is(err, remote.ErrNoProgress):
			if _, err := r.client.Operation(ctx, t.name); err != nil {
				return r.operationError(t, err)
			}
			r.noProgress = true
			r.disp.Println("the endpoint gives no page progress (not Folio?): counting files")
		case err != nil:
			return r.operationError(t, err)
		default:
			if err := r.progress(ctx, t, p); err != nil {
				return err
			}
			if !p.GetDone() {
				return nil
			}
		}
	}
	op, err := r.client.Operation(ctx, t.name)
	if err != nil {
		return r.operationError(t, err)
	}
	if !op.GetDone() {
		return nil
	}
	delete(r.ops, t.name)
	if e := op.GetError(); e != nil {
		r.opFailed(t, codes.Code(e.GetCode()), e.GetMessage())
		return nil
	}
	for _, f := range t.files {
		if f.finished || f.op != t.name {
			continue
		}
		uris, err := r.store.ListURIs(ctx, f.dest)
		if err != nil {
			return err
		}
		if err := r.finish(ctx, f, uris); err != nil {
			return err
		}
	}
	return nil
}

// operationError handles an error reading operation t: one the server no
// longer knows (it expired or was deleted) has its unfinished files
// submitted again; any other error stops the run.
func (r *run) operationError(t *opTrack, err error) error {
	if status.Code(err) != codes.NotFound {
		return err
	}
	delete(r.ops, t.name)
	for _, f := range t.files {
		if !f.finished && f.op == t.name {
			f.op = ""
		}
	}
	r.disp.Println(fmt.Sprintf("%s is gone from the server: submitting its files again", t.name))
	return nil
}

// progress applies p, the progress of t, to its files and finishes those
// whose pages are all done.
func (r *run) progress(ctx context.Context, t *opTrack, p *progresspb.OperationProgress) error {
	for _, pf := range p.GetFiles() {
		for _, f := range t.files {
			if f.finished || f.op != t.name || f.input != pf.GetInputUri() || f.dest != pf.GetOutputUriPrefix() {
				continue
			}
			f.pagesTotal, f.pagesDone, f.pagesFailed = int(pf.GetPagesTotal()), int(pf.GetPagesDone()), int(pf.GetPagesFailed())
			if !pf.GetPlanned() || pf.GetPagesTotal() == 0 || pf.GetPagesDone() < pf.GetPagesTotal() {
				continue
			}
			uris := make([]string, len(pf.GetOutputs()))
			for i, o := range pf.GetOutputs() {
				uris[i] = o.GetUri()
			}
			if err := r.finish(ctx, f, uris); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish reads the output objects of f, writes its results and records
// them in the state.
func (r *run) finish(ctx context.Context, f *file, uris []string) error {
	var parts []*visionpb.AnnotateFileResponse
	for _, u := range uris {
		if !objects.IsOutputName(u) {
			continue
		}
		data, err := r.store.Read(ctx, u)
		if err != nil {
			return err
		}
		part, err := results.Parse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		r.fail(f, "the operation succeeded but no output-A-to-B.json is under "+f.dest)
		return nil
	}
	merged := results.Merge(parts)
	if err := results.Write(r.out, f.src.Name, merged); err != nil {
		return err
	}
	if e := merged.GetError(); e != nil && len(merged.GetResponses()) == 0 {
		// A file that failed as a whole on a FILE_ERRORS=continue worker:
		// its output carries the error, and its operation went on.
		r.fail(f, fmt.Sprintf("%s: %s", codes.Code(e.GetCode()), strings.ReplaceAll(e.GetMessage(), f.input, f.src.Origin())))
		r.state.Files[f.src.Name] = resume.Entry{Key: f.key, Operation: f.op}
		return r.state.Save(r.out)
	}
	failed := results.FailedPages(merged)
	f.finished = true
	f.pagesTotal, f.pagesDone, f.pagesFailed = len(merged.GetResponses()), len(merged.GetResponses()), len(failed)
	r.written++
	r.pagesWritten += f.pagesDone
	r.state.Files[f.src.Name] = resume.Entry{Key: f.key, Operation: f.op, Done: true, Pages: f.pagesDone, FailedPages: failed}
	if err := r.state.Save(r.out); err != nil {
		return err
	}
	line := fmt.Sprintf("done    %s  %d %s", f.src.Name, f.pagesDone, plural(f.pagesDone, "page", "pages"))
	for _, pe := range failed {
		r.failures = append(r.failures, results.Failure{Name: f.src.Name, Input: f.src.Origin(), Page: pe.Page, Message: pe.Message})
	}
	if e := merged.GetError(); e != nil { // a range that failed whole (FILE_ERRORS=continue)
		r.failures = append(r.failures, results.Failure{Name: f.src.Name, Input: f.src.Origin(),
			Message: fmt.Sprintf("%s: %s", codes.Code(e.GetCode()), e.GetMessage())})
		line += ", a range failed: " + e.GetMessage()
	}
	if len(failed) > 0 {
		line += fmt.Sprintf(", %d failed", len(failed))
	}
	r.disp.Println(line)
	return nil
}

// permanent reports whether a file failing with code will fail again.
func permanent(code codes.Code) bool {
	switch code {
	case codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.Unimplemented:
		return true
	}
	return false
}

// opFailed handles operation t ending with an error: the file it names
// fails when the error is permanent; the operation's other unfinished
// files are submitted again (Google and Folio end a whole operation when
// one of its files cannot be read) until they have had maxAttempts.
func (r *run) opFailed(t *opTrack, code codes.Code, msg string) {
	for _, f := range t.files {
		if f.finished || f.op != t.name {
			continue
		}
		switch {
		case r.cancelled:
			r.fail(f, "cancelled")
		case strings.Contains(msg, f.input) && permanent(code):
			r.fail(f, fmt.Sprintf("%s: %s", code, strings.ReplaceAll(msg, f.input, f.src.Origin())))
		case code == codes.Canceled:
			r.fail(f, fmt.Sprintf("operation %s was cancelled", t.name))
		case f.attempts >= r.maxAttempts:
			r.fail(f, fmt.Sprintf("operation %s failed %d times, last: %s: %s", t.name, f.attempts, code, msg))
		default:
			f.op = ""
		}
	}
}

// fail records that f failed as a whole. Its state entry keeps its
// operation, so that a new run reports the failure again without
// resubmitting a file that fails for good.
func (r *run) fail(f *file, reason string) {
	f.finished = true
	r.failures = append(r.failures, results.Failure{Name: f.src.Name, Input: f.src.Origin(), Message: reason})
	r.disp.Println(fmt.Sprintf("FAILED  %s: %s", f.src.Name, reason))
}

// interrupted handles a signal: on a terminal it asks whether to cancel
// the operations (a second signal exits without cancelling); otherwise it
// exits and leaves them running.
func (r *run) interrupted(ctx context.Context, sig os.Signal) error {
	names := make([]string, 0, len(r.ops))
	for _, t := range r.opsSorted() {
		names = append(names, t.name)
	}
	leave := &exitError{code: ExitInterrupted, msg: fmt.Sprintf(
		"interrupted (%v): %d operations left running on the server (%s); run the same command again to resume",
		sig, len(names), strings.Join(names, ", "))}
	if !r.interactive || len(names) == 0 {
		return leave
	}
	r.disp.Println(fmt.Sprintf("Interrupted. Cancel the %d operations on the server? [y/N] (Ctrl-C again: exit and leave them running)", len(names)))
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r.env.Stdin).ReadString('\n')
		answer <- strings.TrimSpace(strings.ToLower(line))
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.env.Signals:
		return leave
	case a := <-answer:
		if a != "y" && a != "yes" {
			r.disp.Println("continuing")
			return nil
		}
	}
	r.cancelled = true
	var errs []error
	for _, n := range names {
		if err := r.client.Cancel(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("interrupted; cancelling: %w", err)
	}
	return &exitError{code: ExitInterrupted, msg: fmt.Sprintf("interrupted: cancelled %d operations", len(names))}
}

// summarize prints the run's summary and writes (or removes) the failure
// report.
func (r *run) summarize() error {
	var pages, failedPages, failedFiles int
	for _, f := range r.files {
		pages += f.pagesDone
		failedPages += f.pagesFailed
	}
	for _, fl := range r.failures {
		if fl.Page == 0 {
			failedFiles++
		}
	}
	w := r.env.Stdout
	fmt.Fprintf(w, "Summary: %d files: %d written, %d complete already, %d failed; %d pages, %d failed; %s\n",
		len(r.files), r.written, r.skipped, failedFiles, pages, failedPages, since(r.start))
	report := filepath.Join(r.out, results.ReportFile)
	if len(r.failures) == 0 {
		if err := os.Remove(report); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove old report: %w", err)
		}
		return nil
	}
	text := results.Report(r.failures)
	fmt.Fprintf(w, "Failures (also in %s):\n", report)
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if err := resume.WriteFileAtomic(report, []byte(text)); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
