package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/store"
)

// Task types of images:asyncBatchAnnotate, persisted in Redis: never
// rename.
const (
	// TypePlanImages cuts an images operation into output batches of
	// batchSize images and enqueues one TypeAnnotateImages per batch.
	TypePlanImages = "folio:plan_images"
	// TypeAnnotateImages annotates one batch of images and writes its
	// output-A-to-B.json, a BatchAnnotateImagesResponse.
	TypeAnnotateImages = "folio:annotate_images"
)

// PlanImagesPayload is the payload of TypePlanImages; the request is read
// from the operation store.
type PlanImagesPayload struct {
	Operation string `json:"operation"` // operation id
}

// AnnotateImagesPayload is the payload of TypeAnnotateImages: images First
// to Last (1-based, inclusive) of an operation, written to Dest. Field
// names match AnnotateRangePayload's, which the error handler decodes.
type AnnotateImagesPayload struct {
	Operation string `json:"operation"`
	First     int    `json:"first"`
	Last      int    `json:"last"`
	// Requests is a protojson BatchAnnotateImagesRequest of these images
	// only, so a task carries its own images, not the whole operation's.
	Requests json.RawMessage `json:"requests"`
	// Dest is the output object, <gcsDestination.uri>output-First-to-Last.json.
	Dest string `json:"dest"`
	// Owner is the API key that created the operation (see FileTask.Owner).
	Owner string `json:"owner,omitempty"`
}

func newPlanImagesTask(p PlanImagesPayload, queue string) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("jobs: marshal %s: %w", TypePlanImages, err)
	}
	return asynq.NewTask(TypePlanImages, b, asynq.TaskID("plan:"+p.Operation+":images"), asynq.Queue(queue),
		asynq.MaxRetry(maxRetry), asynq.Timeout(planTimeout)), nil
}

func newAnnotateImagesTask(p AnnotateImagesPayload, queue string, pageTimeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("jobs: marshal %s: %w", TypeAnnotateImages, err)
	}
	id := fmt.Sprintf("images:%s:%d-%d", p.Operation, p.First, p.Last)
	return asynq.NewTask(TypeAnnotateImages, b, asynq.TaskID(id), asynq.Queue(queue),
		asynq.MaxRetry(maxRetry), asynq.Timeout(rangeDeadline(p.Last-p.First+1, pageTimeout))), nil
}

// planImages records the output batches of an images operation (one file,
// whose pages are the images) and enqueues a task per batch.
func (h *Handlers) planImages(ctx context.Context, t *asynq.Task) error {
	var p PlanImagesPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Operation == "" {
		return fmt.Errorf("jobs: decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	// An images operation is one file (0) whose pages are its images.
	log := h.Logger.With(zap.String("operation", p.Operation), zap.Int("file", 0), zap.String("task_type", t.Type()))
	op, err := h.Ops.Get(ctx, p.Operation)
	if err != nil {
		return h.storeErr(err)
	}
	if op.Images == nil {
		return fmt.Errorf("jobs: operation %s is not an images operation: %w", p.Operation, asynq.SkipRetry)
	}
	if done, err := h.finished(ctx, p.Operation); done || err != nil {
		return err
	}
	req := op.Images
	dest := req.GetOutputConfig().GetGcsDestination().GetUri()
	if err := h.authorize(op.Owner, imageURIs(req.GetRequests()), []string{dest}); err != nil {
		return err
	}
	if err := h.Blobs.BucketExists(ctx, dest); err != nil {
		return fileFailure(dest, err)
	}
	prs, err := pipeline.SplitPages(len(req.GetRequests()), pipeline.BatchSize(req.GetOutputConfig().GetBatchSize()))
	if err != nil {
		return fmt.Errorf("jobs: plan images of %s: %v: %w", p.Operation, err, asynq.SkipRetry)
	}
	ranges := make([]store.Range, len(prs))
	for i, r := range prs {
		ranges[i] = store.Range{File: 0, First: r.First, Last: r.Last}
	}
	c, err := h.Ops.PlanFile(ctx, p.Operation, 0, ranges)
	if err != nil || c == store.AlreadyFinished {
		return h.storeErr(err)
	}
	for _, r := range prs {
		batch, err := protojson.Marshal(&visionpb.BatchAnnotateImagesRequest{Requests: req.GetRequests()[r.First-1 : r.Last]})
		if err != nil {
			return fmt.Errorf("jobs: encode images %d-%d: %w", r.First, r.Last, err)
		}
		t, err := newAnnotateImagesTask(AnnotateImagesPayload{
			Operation: p.Operation, First: r.First, Last: r.Last, Requests: batch, Dest: pipeline.OutputName(dest, r),
			Owner: op.Owner,
		}, h.Client.queue, h.pageTimeout())
		if err != nil {
			return err
		}
		if err := h.Client.enqueue(ctx, t); err != nil {
			return fmt.Errorf("jobs: enqueue images %d-%d of %s: %w", r.First, r.Last, p.Operation, err)
		}
	}
	log.Info("planned images", zap.Int("images", len(req.GetRequests())), zap.Int("batches", len(prs)))
	return nil
}

// annotateImages annotates one batch of images, writes its output file and
// completes the batch. An image that cannot be read or annotated gets its
// error in its response, as images:annotate answers it.
func (h *Handlers) annotateImages(ctx context.Context, t *asynq.Task) error {
	var p AnnotateImagesPayload
	req := &visionpb.BatchAnnotateImagesRequest{}
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Operation == "" || p.Dest == "" {
		return fmt.Errorf("jobs: decode %s: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	if err := protojson.Unmarshal(p.Requests, req); err != nil {
		return fmt.Errorf("jobs: decode %s requests: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	log := h.Logger.With(zap.String("operation", p.Operation), zap.Int("file", 0), zap.String("task_type", t.Type()),
		zap.Int("first_image", p.First), zap.Int("last_image", p.Last), zap.String("dest", p.Dest))
	rng := store.Range{File: 0, First: p.First, Last: p.Last}
	if done, err := h.rangeDone(ctx, p.Operation, rng); done || err != nil {
		if done {
			log.Info("skipping images: already done, or their operation finished")
		}
		return err
	}
	if err := h.authorize(p.Owner, imageURIs(req.GetRequests()), []string{p.Dest}); err != nil {
		return err
	}
	start := time.Now()
	out := &visionpb.BatchAnnotateImagesResponse{}
	failed := 0
	for i, ir := range req.GetRequests() {
		// Between images, as ranges between pages: drop the rest of a
		// cancelled, failed or deleted operation.
		if done, err := h.finished(ctx, p.Operation); done || err != nil {
			if done {
				log.Info("operation finished while annotating; dropping images", zap.Int("image", p.First+i))
			}
			return err
		}
		r, err := h.syncImage(ctx, p.First-1+i, ir, log.With(zap.Int("image", p.First+i)))
		if err != nil {
			return err
		}
		if r.GetError() != nil {
			failed++
		}
		out.Responses = append(out.Responses, r)
	}
	if done, err := h.rangeDone(ctx, p.Operation, rng); done || err != nil {
		if done {
			log.Info("images done elsewhere or operation finished while annotating; dropping output")
		}
		return err
	}
	if err := h.writeJSON(ctx, p.Dest, out); err != nil {
		return err
	}
	c, err := h.Ops.CompleteRange(ctx, p.Operation, rng, failed)
	if err != nil {
		return h.storeErr(err)
	}
	h.Metrics.RangeTook("images", time.Since(start))
	log.Info("annotated images", zap.Int("failed", failed), zap.Bool("finalized", c == store.Finalized),
		zap.Duration("took", time.Since(start)))
	return nil
}

// writeJSON writes m as compact protojson to dest. Nothing is visible
// unless the whole object is written.
func (h *Handlers) writeJSON(ctx context.Context, dest string, m *visionpb.BatchAnnotateImagesResponse) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return fmt.Errorf("jobs: encode %s: %w", dest, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil { // protojson varies its spacing on purpose
		return fmt.Errorf("jobs: encode %s: %w", dest, err)
	}
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	w, err := h.Blobs.NewWriter(wctx, dest, "application/json")
	if err != nil {
		return writeErr(dest, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		abort()
		return writeErr(dest, errors.Join(err, w.Close()))
	}
	if err := w.Close(); err != nil {
		return writeErr(dest, err)
	}
	return nil
}
