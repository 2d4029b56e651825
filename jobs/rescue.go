package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/store"
)

// Heartbeats of long tasks, and when the janitor gives up on one.
const (
	// BeatInterval is how often a running long task beats.
	BeatInterval = 2 * time.Second
	// StaleAfter is how long a task may go without a beat before the
	// janitor queues it again: several beats, so a busy Redis or a long GC
	// pause does not duplicate work; well under asynq's lease (30 s) plus
	// its recoverer's round (up to a minute).
	StaleAfter = 15 * time.Second
	// RescueInterval is how often the janitor looks for stale tasks, and
	// renews its lease.
	RescueInterval = 3 * time.Second
	// JanitorLeaseTTL is how long the janitor's lease lasts unrenewed: when
	// the worker holding it dies, another takes over within it.
	JanitorLeaseTTL = 10 * time.Second
)

// withHeartbeat runs handle while beating for its task in h.Running every
// BeatInterval, and forgets it when handle returns, whatever the outcome
// (asynq retries a failure itself while this worker lives). A beat that
// finds the task claimed by the janitor (this worker was frozen or cut off
// past StaleAfter, and the task was queued again) stops handle: another
// worker has the task now, so this run is dropped, not failed. Without
// h.Running it is handle.
func (h *Handlers) withHeartbeat(handle asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		id, ok := asynq.GetTaskID(ctx)
		if h.Running == nil || !ok {
			return handle(ctx, t)
		}
		queue, _ := asynq.GetQueueName(ctx)
		if err := h.Running.Start(ctx, store.RunningTask{Key: id, Type: t.Type(), Payload: t.Payload(), Queue: queue}, time.Now()); err != nil {
			// asynq's lease still covers the task; only a quick rescue is lost.
			h.Logger.Warn("register running task", zap.String("task_id", id), zap.Error(err))
		}
		hctx, stopHandler := context.WithCancelCause(ctx)
		defer stopHandler(nil)
		stop := make(chan struct{})
		var beats sync.WaitGroup
		beats.Go(func() {
			tick := time.NewTicker(BeatInterval)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case now := <-tick.C:
					alive, err := h.Running.Beat(ctx, id, now)
					switch {
					case err != nil && ctx.Err() == nil:
						h.Logger.Warn("beat running task", zap.String("task_id", id), zap.Error(err))
					case err == nil && !alive:
						stopHandler(errTakenOver)
						return
					}
				}
			}
		})
		err := handle(hctx, t)
		close(stop)
		beats.Wait()
		if errors.Is(context.Cause(hctx), errTakenOver) {
			h.Logger.Warn("dropped a task the janitor queued again while this worker was silent", append(taskFields(t.Type(), t.Payload()),
				zap.String("task_id", id), zap.NamedError("stopped_with", err))...)
			return nil
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if derr := h.Running.Done(dctx, id); derr != nil {
			h.Logger.Warn("forget running task", zap.String("task_id", id), zap.Error(derr))
		}
		return err
	}
}

// errTakenOver is the cause with which withHeartbeat stops a task that
// the janitor queued again.
var errTakenOver = errors.New("jobs: task queued again by the janitor after its worker was silent")

// RescueStale queues again, under a new task id, every long task whose
// worker has not beaten for StaleAfter (killed, frozen, cut off from
// Redis): asynq still holds the original as active until its lease lapses
// and its recoverer comes round, which takes up to a minute and a half.
// Work is idempotent, so if the original's worker was only frozen and
// resumes, or asynq later retries the original, the outputs and the
// operation come out the same. It returns how many tasks it queued.
func (h *Handlers) RescueStale(ctx context.Context, now time.Time) (int, error) {
	if h.Running == nil {
		return 0, nil
	}
	stale, err := h.Running.Stale(ctx, now.Add(-StaleAfter), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range stale {
		t, ok, err := h.Running.Claim(ctx, s)
		if err != nil {
			return n, err
		}
		if !ok {
			continue // it beat meanwhile: slow, not dead
		}
		id := fmt.Sprintf("%s:rescued:%d", t.Key, now.UnixMilli())
		task := asynq.NewTask(t.Type, t.Payload)
		if _, err := h.Client.q.EnqueueContext(ctx, task, asynq.Queue(t.Queue), asynq.TaskID(id),
			asynq.MaxRetry(maxRetry), asynq.Timeout(h.taskTimeout(t))); err != nil {
			return n, fmt.Errorf("jobs: queue rescued task %s: %w", t.Key, err)
		}
		n++
		h.Metrics.JanitorAction(metrics.JanitorRescuedTask)
		h.Logger.Warn("queued again the task of a worker that stopped beating", append(taskFields(t.Type, t.Payload),
			zap.String("task_id", t.Key), zap.String("rescue_task_id", id), zap.Duration("silent_for", now.Sub(time.UnixMilli(t.Beat))))...)
	}
	return n, nil
}

// RescueOrphans queues again, under a new task id, every task of queue
// that asynq holds as active with its lease expired (orphaned) and that
// RescueStale did not queue again already: a task asynq handed out just
// as its worker lost Redis (Redis killed between moving the task to its
// active list and answering), which no worker ever received or
// registered. asynq's recoverer would find it only up to a minute after
// its 30 s lease, then retry it; this finds it at the lease's end. Its
// original, retried later by the recoverer, finds its range done. It
// returns how many tasks it queued.
func (h *Handlers) RescueOrphans(ctx context.Context, insp *asynq.Inspector, queue string) (int, error) {
	if h.Running == nil {
		return 0, nil
	}
	active, err := insp.ListActiveTasks(queue, asynq.PageSize(100))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("jobs: list active tasks: %w", err)
	}
	n := 0
	for _, t := range active {
		if !t.IsOrphaned || t.Queue != queue {
			continue
		}
		claimed, err := h.Running.Claimed(ctx, t.ID)
		if err != nil {
			return n, err
		}
		if claimed || strings.Contains(t.ID, ":orphan") {
			continue // queued again already (by RescueStale, or as an orphan)
		}
		id := t.ID + ":orphan"
		task := asynq.NewTask(t.Type, t.Payload)
		_, err = h.Client.q.EnqueueContext(ctx, task, asynq.Queue(queue), asynq.TaskID(id),
			asynq.MaxRetry(maxRetry), asynq.Timeout(h.taskTimeout(store.RunningTask{Type: t.Type, Payload: t.Payload})))
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			continue // an earlier round's copy is still queued or running
		}
		if err != nil {
			return n, fmt.Errorf("jobs: queue orphaned task %s: %w", t.ID, err)
		}
		n++
		h.Metrics.JanitorAction(metrics.JanitorRescuedTask)
		h.Logger.Warn("queued again a task asynq handed out that no worker took", append(taskFields(t.Type, t.Payload),
			zap.String("task_id", t.ID), zap.String("rescue_task_id", id))...)
	}
	return n, nil
}

// taskTimeout is the asynq timeout of a rescued task, as its constructor
// sets it.
func (h *Handlers) taskTimeout(t store.RunningTask) time.Duration {
	var p AnnotateRangePayload
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return rangeTimeout
	}
	switch t.Type {
	case TypePlanFile, TypePlanImages:
		return planTimeout
	case TypeAnnotateImages:
		return rangeDeadline(p.Last-p.First+1, h.pageTimeout())
	default:
		u := p.unit()
		return rangeDeadline(u.Last-u.First+1, h.pageTimeout())
	}
}

// taskFields are the log fields of a task of taskType with payload: its
// operation, file, pages (the unit's, for a unit of a split range) and
// type, as a range logs them.
func taskFields(taskType string, payload []byte) []zap.Field {
	var p AnnotateRangePayload // a superset of the other payloads' fields
	_ = json.Unmarshal(payload, &p)
	unit := p.unit()
	return []zap.Field{zap.String("operation", p.Operation), zap.Int("file", p.File),
		zap.Int("first_page", unit.First), zap.Int("last_page", unit.Last), zap.String("task_type", taskType)}
}
