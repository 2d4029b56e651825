package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap/zaptest"

	"github.com/folio-ocr/folio/store/storetest"
)

// After SHUTDOWN_TIMEOUT asynq hands a running task back to the queue,
// cancels its ctx and returns from Shutdown while the handler may still
// run. The worker closes pdfium, the OCR engines and storage after drain, so
// drain returns true only once every handler has returned, and false (the
// caller then leaves those open) when one outlives the grace.
func TestDrainWaitsForHandlers(t *testing.T) {
	tests := []struct {
		name string
		// after is how long the handler takes to return once its ctx is
		// cancelled; negative: until the test ends.
		after time.Duration
		grace time.Duration
		want  bool
	}{
		{"handler returns within the grace", 800 * time.Millisecond, 5 * time.Second, true},
		{"handler outlives the grace", -1, 300 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb, _ := storetest.Redis(t)
			queue := "test-drain-" + storetest.UniqueID()
			t.Cleanup(func() {
				storetest.DeletePrefix(t, rdb, "asynq:{"+queue+"}")
				rdb.SRem(context.Background(), "asynq:queues", queue)
			})
			release := make(chan struct{})
			returned := make(chan struct{})
			started := make(chan struct{})
			var running atomic.Bool
			hs := newInflight()
			mux := asynq.NewServeMux()
			mux.Use(hs.wrap)
			mux.HandleFunc("test:stubborn", func(ctx context.Context, _ *asynq.Task) error {
				running.Store(true)
				defer close(returned)
				defer running.Store(false)
				close(started)
				<-ctx.Done() // asynq cancels it when ShutdownTimeout is up
				if tt.after >= 0 {
					time.Sleep(tt.after) // like a page render that cannot be interrupted
				} else {
					<-release
				}
				return ctx.Err()
			})
			srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
				Queues: map[string]int{queue: 1}, Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond,
				ShutdownTimeout: 200 * time.Millisecond, Logger: zaptest.NewLogger(t).Sugar(), LogLevel: asynq.WarnLevel,
			})
			if err := srv.Start(mux); err != nil {
				t.Fatal(err)
			}
			c := asynq.NewClientFromRedisClient(rdb)
			if _, err := c.Enqueue(asynq.NewTask("test:stubborn", nil), asynq.Queue(queue)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("the task did not start within 10s")
			}

			start := time.Now()
			ok := drain([]*asynq.Server{srv}, hs, tt.grace)
			took := time.Since(start)
			stillRunning := running.Load()
			close(release)
			<-returned
			if ok != tt.want || ok && stillRunning {
				t.Errorf("drain = %v after %s with the handler still running: %v; want %v, and true only once it returned",
					ok, took.Round(time.Millisecond), stillRunning, tt.want)
			}
			if !ok && took > 200*time.Millisecond+tt.grace+2*time.Second {
				t.Errorf("drain took %s, want about ShutdownTimeout + grace", took)
			}
		})
	}
}
