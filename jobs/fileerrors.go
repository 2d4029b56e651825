package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// FileErrors says what a file that fails as a whole does to its operation
// (the worker's FILE_ERRORS). A file fails as a whole when it cannot be
// read (missing, corrupt, encrypted, too many pages, an unsupported type,
// a language hint Folio cannot serve) or when its plan task or one of its
// range tasks fails for good (a permanent error, or retries exhausted).
// Pages that fail alone are never file failures: they get an error entry
// in their range's output under either setting.
type FileErrors int

const (
	// FileErrorsFail ends the operation with the file's error (google.rpc
	// code and a message naming the file), as Google does: the operation's
	// remaining ranges are dropped, and outputs already written stay where
	// they are but the operation reports no response. The default.
	FileErrorsFail FileErrors = iota
	// FileErrorsContinue records the file as done with its error and lets
	// the operation's other files complete: a file that failed whole gets
	// one output object, <destination>output-1-to-1.json, an
	// AnnotateFileResponse with inputConfig and error set and no
	// responses; a range that failed for good gets its own output object,
	// <destination>output-A-to-B.json, holding the same, while the file's
	// other ranges complete normally. The operation ends DONE without an
	// operation error. If the error object cannot be written (the output
	// bucket is missing, say), the operation fails as under FileErrorsFail.
	FileErrorsContinue
)

// ParseFileErrors parses a FILE_ERRORS value: "fail" or "continue".
func ParseFileErrors(s string) (FileErrors, error) {
	switch s {
	case "fail":
		return FileErrorsFail, nil
	case "continue":
		return FileErrorsContinue, nil
	}
	return 0, fmt.Errorf("jobs: file errors %q: want fail or continue", s)
}

// String returns the FILE_ERRORS value of e.
func (e FileErrors) String() string {
	if e == FileErrorsContinue {
		return "continue"
	}
	return "fail"
}

// failedFileOutputRange is the page range in the name of the output object
// of a file that failed as a whole, whose page count may be unknown.
var failedFileOutputRange = pipeline.PageRange{First: 1, Last: 1}

// continuePastFile handles, under FileErrorsContinue, the failure for good
// of a task of taskType (a plan or range task of operation p.Operation)
// with f: it
// writes the failed file's (or range's) output object carrying f and
// records the file as failed, so the operation goes on. It reports whether
// it did; if not, the caller fails the operation.
func (h *Handlers) continuePastFile(ctx context.Context, taskType string, p AnnotateRangePayload, f *rpcerr.Error, log *zap.Logger) bool {
	if h.FileErrors != FileErrorsContinue || (taskType != TypePlanFile && taskType != TypeAnnotateRange) {
		return false
	}
	req, err := p.request()
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	pages, r := failedFileOutputRange, store.Range{}
	if taskType == TypeAnnotateRange {
		pages, r = p.pages(), store.Range{File: p.File, First: p.First, Last: p.Last}
		if done, err := h.rangeDone(ctx, p.Operation, r); err != nil || done {
			// Completed by another run, or the operation ended: nothing to
			// record; on a store error, fail the operation.
			return err == nil
		}
	} else if done, err := h.finished(ctx, p.Operation); err != nil || done {
		return err == nil
	}
	dest := pipeline.OutputName(req.GetOutputConfig().GetGcsDestination().GetUri(), pages)
	if err := h.writeFileError(ctx, dest, req, f); err != nil {
		log.Error("cannot write the output of a failed file; failing the operation", zap.String("output", dest),
			zap.NamedError("write_error", err))
		return false
	}
	c, err := h.Ops.FailFile(ctx, p.Operation, p.File, r, int32(f.Code), f.Message)
	if errors.Is(err, store.ErrNotFound) {
		return true // deleted meanwhile
	}
	if err != nil {
		log.Error("cannot record a failed file; failing the operation", zap.NamedError("store_error", err))
		return false
	}
	log.Warn("file failed; the operation goes on (FILE_ERRORS=continue)", zap.String("output", dest),
		zap.String("message", f.Message), zap.String("code", f.Code.String()),
		zap.Bool("finalized", c == store.Finalized))
	return true
}

// writeFileError writes dest: one AnnotateFileResponse echoing the
// request's inputConfig, with error f and no responses.
func (h *Handlers) writeFileError(ctx context.Context, dest string, req *visionpb.AsyncAnnotateFileRequest, f *rpcerr.Error) error {
	data, err := protojson.Marshal(&visionpb.AnnotateFileResponse{
		InputConfig: proto.Clone(req.GetInputConfig()).(*visionpb.InputConfig),
		Error:       &statuspb.Status{Code: int32(f.Code), Message: f.Message},
	})
	if err != nil {
		return fmt.Errorf("jobs: encode %s: %w", dest, err)
	}
	w, err := h.Blobs.NewWriter(ctx, dest, "application/json")
	if err != nil {
		return fmt.Errorf("jobs: write %s: %w", dest, err)
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return fmt.Errorf("jobs: write %s: %w", dest, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("jobs: write %s: %w", dest, err)
	}
	return nil
}

// fileFailed reports whether file of operation id was recorded as failed
// (FailFile): its archived plan task is then no failure of the operation.
func (h *Handlers) fileFailed(ctx context.Context, id string, file int) (bool, error) {
	pr, err := h.Ops.Progress(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil // deleted or expired
	}
	if err != nil {
		return false, err
	}
	_, failed := pr.FileErrors[file]
	return failed || pr.Operation.Done, nil
}
