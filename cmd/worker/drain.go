package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// handlerGrace bounds the wait, once asynq's Shutdown has returned, for the
// task handlers it stopped waiting for. asynq cancelled their ctx, and a
// range stops at its next page boundary: an OCR call returns on cancel, a
// page render within the page timeout. Keep SHUTDOWN_TIMEOUT plus this below
// compose's stop_grace_period and Kubernetes' terminationGracePeriodSeconds.
const handlerGrace = 5 * time.Second

// inflight counts the task handlers running, so that the worker closes
// pdfium, the OCR engines and storage only after the last one returned.
// asynq's Shutdown does not wait for them: after ShutdownTimeout it hands
// their tasks back to the queue and cancels their ctx, but returns while
// they may still run.
type inflight struct {
	mu      sync.Mutex
	running int
	closed  bool
	idle    chan struct{} // closed once closed and no handler runs
}

func newInflight() *inflight { return &inflight{idle: make(chan struct{})} }

// wrap is an asynq middleware that counts the calls of next. Once wait has
// begun, a task is not started: its worker goroutine in asynq gave up on it
// and handed it back to the queue already.
func (hs *inflight) wrap(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		hs.mu.Lock()
		if hs.closed {
			hs.mu.Unlock()
			return fmt.Errorf("worker: shutting down; %s not run: %w", t.Type(), context.Canceled)
		}
		hs.running++
		hs.mu.Unlock()
		defer func() {
			hs.mu.Lock()
			defer hs.mu.Unlock()
			hs.running--
			if hs.closed && hs.running == 0 {
				close(hs.idle)
			}
		}()
		return next.ProcessTask(ctx, t)
	})
}

// wait lets no new handler start and waits up to timeout for the running
// ones to return. It reports whether they all did.
func (hs *inflight) wait(timeout time.Duration) bool {
	hs.mu.Lock()
	if !hs.closed {
		hs.closed = true
		if hs.running == 0 {
			close(hs.idle)
		}
	}
	hs.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-hs.idle:
		return true
	case <-t.C:
		return false
	}
}

// drain shuts servers down at once, so that the drain takes one
// ShutdownTimeout, not one per server: each stops fetching, waits for its
// running tasks up to its ShutdownTimeout and hands the rest back to the
// queue. Then it waits up to grace for the handlers that asynq gave up on
// (hs counts them; it must wrap the servers' handler). It reports whether
// every handler returned: only then may the caller close what they use.
func drain(servers []*asynq.Server, hs *inflight, grace time.Duration) bool {
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(s.Shutdown)
	}
	wg.Wait()
	return hs.wait(grace)
}
