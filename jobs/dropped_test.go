package jobs_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/store"
	"github.com/folio-ocr/folio/store/storetest"
)

// slowOCR stands in for Tesseract: every page takes delay (or until ctx
// ends), and the first page runs first once.
type slowOCR struct {
	delay time.Duration
	first func()
	once  sync.Once
}

func (s *slowOCR) Recognize(ctx context.Context, _ *pipeline.Raster, _ pipeline.OCROptions) (*visionpb.TextAnnotation, error) {
	s.once.Do(s.first)
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &visionpb.TextAnnotation{Text: "text\n"}, nil
}

// gifFrames returns a GIF of n small frames, each a page that goes to OCR.
func gifFrames(n int) []byte {
	g := &gif.GIF{}
	pal := color.Palette{color.White, color.Black}
	for i := range n {
		img := image.NewPaletted(image.Rect(0, 0, 16, 16), pal)
		img.SetColorIndex(i%16, i%16, 1)
		g.Image = append(g.Image, img)
		g.Delay = append(g.Delay, 0)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// A range whose operation is cancelled while its pages are being OCR'd
// stops at the next page boundary and is dropped: its task succeeds (asynq
// counts no failure and schedules no retry), nothing logs a failure, and
// the drop is logged at info.
func TestCancelledRangeIsDroppedNotFailed(t *testing.T) {
	const pages = 20
	for _, unit := range []int{0, 5} {
		t.Run(fmt.Sprintf("units of %d pages", unit), func(t *testing.T) {
			obs, logs := observer.New(zapcore.InfoLevel)
			var (
				ops  *store.RedisOperations
				opID string
			)
			ocr := &slowOCR{delay: 100 * time.Millisecond, first: func() {
				if ok, err := ops.Cancel(context.Background(), opID); !ok || err != nil {
					t.Errorf("Cancel = %v, %v", ok, err)
				}
			}}
			b := setup(t, 0, func(h *jobs.Handlers) {
				h.OCR, h.OCRParallel, h.UnitPages = ocr, 1, unit
				h.Logger = zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), obs))
			})
			ops = b.ops
			uri := b.upload(t, "in/frames.gif", gifFrames(pages))
			req := fileRequest(uri, "gs://"+bucket+"/out/", pages)
			req.InputConfig.MimeType = "image/gif"
			op := &store.Operation{ID: storetest.UniqueID(), APIVersion: "v1", CreateTime: time.Now(),
				Request: &visionpb.AsyncBatchAnnotateFilesRequest{Requests: []*visionpb.AsyncAnnotateFileRequest{req}}}
			op.Name = "operations/" + op.ID
			opID = op.ID
			ctx := context.Background()
			if err := b.ops.Create(ctx, op); err != nil {
				t.Fatal(err)
			}
			if err := b.client.EnqueueOperation(ctx, op); err != nil {
				t.Fatal(err)
			}

			// The plan task and every task of the range have run.
			tasks := 2 // plan + range
			if unit > 0 {
				tasks = 1 + pages/unit
			}
			insp := asynq.NewInspectorFromRedisClient(b.rdb)
			var qi *asynq.QueueInfo
			deadline := time.Now().Add(20 * time.Second)
			for {
				var err error
				if qi, err = insp.GetQueueInfo(b.queue); err != nil {
					t.Fatal(err)
				}
				if qi.Processed >= tasks && qi.Active == 0 && qi.Pending == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 20s: %d of %d tasks processed, %d active, %d pending", qi.Processed, tasks, qi.Active, qi.Pending)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := b.wait(t, op.ID); got.State != visionpb.OperationMetadata_CANCELLED {
				t.Errorf("state %v, want CANCELLED", got.State)
			}
			if qi.Failed != 0 || qi.Retry != 0 {
				t.Errorf("asynq counted %d failed tasks and has %d to retry; want a dropped range to be neither", qi.Failed, qi.Retry)
			}
			for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
				t.Errorf("warning logged: %q %v", e.Message, e.ContextMap())
			}
			for _, e := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
				t.Errorf("error logged: %q %v", e.Message, e.ContextMap())
			}
			if logs.FilterMessageSnippet("dropping range").FilterLevelExact(zapcore.InfoLevel).Len() == 0 {
				t.Error("no info line says the range was dropped")
			}
			if outs := b.outputs(t, "out/"); len(outs) != 0 {
				t.Errorf("cancelled operation wrote %d outputs", len(outs))
			}
		})
	}
}
