package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// DefaultReapInterval is how often RunJanitor does its rounds.
const DefaultReapInterval = 30 * time.Second

// ReapArchived ends the operation of every task in queue's archive and
// deletes the task. asynq archives a task without running our error handler
// when a worker dies during its last attempt (the lease recoverer archives
// it), and the handler's own attempt to fail the operation can itself fail;
// either way the operation would otherwise stay RUNNING until it expires.
// Operations that already ended are left as they are. Under
// FileErrorsContinue only the task's file (or range) fails, as in
// handleError. It returns how many tasks it reaped.
func (h *Handlers) ReapArchived(ctx context.Context, insp *asynq.Inspector, queue string) (int, error) {
	n := 0
	for {
		tasks, err := insp.ListArchivedTasks(queue, asynq.PageSize(100))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("jobs: list archived tasks: %w", err)
		}
		if len(tasks) == 0 {
			return n, nil
		}
		for _, t := range tasks {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			if err := h.reap(ctx, t); err != nil {
				return n, err
			}
			if err := insp.DeleteTask(queue, t.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				return n, fmt.Errorf("jobs: delete archived task %s: %w", t.ID, err)
			}
			h.Metrics.JanitorAction(metrics.JanitorReapedTask)
			n++
		}
	}
}

func (h *Handlers) reap(ctx context.Context, t *asynq.TaskInfo) error {
	var p AnnotateRangePayload // a superset of PlanFilePayload
	if err := json.Unmarshal(t.Payload, &p); err != nil || p.Operation == "" {
		h.Logger.Error("dropping undecodable archived task", zap.String("task_id", t.ID), zap.String("task_type", t.Type))
		return nil
	}
	if t.Type == TypeAnnotateRange || t.Type == TypeAnnotateImages {
		// A range another run completed (the janitor's rescue of a worker
		// that went silent on its last attempt) is not a failure.
		r := store.Range{File: p.File, First: p.First, Last: p.Last}
		if done, err := h.rangeDone(ctx, p.Operation, r); err != nil {
			return fmt.Errorf("jobs: range of archived task %s: %w", t.ID, err)
		} else if done {
			h.Logger.Info("deleting archived task: its range is done or its operation ended", zap.String("operation", p.Operation),
				zap.Int("file", p.File), zap.Int("first_page", p.First), zap.Int("last_page", p.Last), zap.String("task_id", t.ID))
			return nil
		}
	}
	if t.Type == TypePlanFile && h.FileErrors == FileErrorsContinue {
		// The handler recorded the file as failed before asynq archived
		// its task.
		if failed, err := h.fileFailed(ctx, p.Operation, p.File); err != nil {
			return fmt.Errorf("jobs: file of archived task %s: %w", t.ID, err)
		} else if failed {
			return nil
		}
	}
	msg := p.failureMessage(t.Type)
	log := h.Logger.With(zap.String("operation", p.Operation), zap.String("task_id", t.ID), zap.String("task_type", t.Type))
	if h.continuePastFile(ctx, t.Type, p, &rpcerr.Error{Code: codes.Internal, Message: msg}, log) {
		return nil
	}
	ended, err := h.Ops.Fail(ctx, p.Operation, int32(codes.Internal), msg)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("jobs: fail operation %s of archived task %s: %w", p.Operation, t.ID, err)
	}
	if ended {
		h.Metrics.JanitorAction(metrics.JanitorFailedOperation)
		unit := p.unit()
		h.Logger.Warn("operation failed: its task was archived", zap.String("operation", p.Operation),
			zap.Int("file", p.File), zap.Int("first_page", unit.First), zap.Int("last_page", unit.Last),
			zap.String("task_id", t.ID), zap.String("task_type", t.Type), zap.Int("retried", t.Retried),
			zap.String("last_error", t.LastErr), zap.String("message", msg))
	}
	return nil
}

// Stuck operations: still CREATED after stuckAfter (their plan tasks never
// reached the queue: the api died between creating and enqueuing), looked
// for up to stuckWindow back.
const (
	stuckAfter  = time.Minute
	stuckWindow = time.Hour
)

// ResubmitStuck enqueues again the work of operations created between an
// hour and a minute ago that are still CREATED. Enqueuing is idempotent, so
// an operation whose plan tasks merely wait in a busy queue is unaffected.
// It returns how many operations it resubmitted.
func (h *Handlers) ResubmitStuck(ctx context.Context, now time.Time) (int, error) {
	ops, err := h.Ops.Created(ctx, now.Add(-stuckWindow), now.Add(-stuckAfter))
	if err != nil {
		return 0, err
	}
	for i, op := range ops {
		if err := h.Client.EnqueueOperation(ctx, op); err != nil {
			return i, err
		}
		h.Metrics.JanitorAction(metrics.JanitorResubmittedOperation)
		h.Logger.Info("resubmitted operation still CREATED", zap.String("operation", op.ID),
			zap.Time("created", op.CreateTime))
	}
	return len(ops), nil
}

// Leaser grants one holder at a time the right to do something for the
// whole fleet; *store.Lease implements it.
type Leaser interface {
	// Acquire takes or renews the lease and reports whether the caller
	// holds it.
	Acquire(ctx context.Context) (bool, error)
}

// RunJanitor reaps archived tasks (ReapArchived) and resubmits stuck
// operations (ResubmitStuck) every interval (DefaultReapInterval if zero),
// and queues again the tasks of workers that stopped beating (RescueStale)
// and the tasks asynq handed out that no worker took (RescueOrphans), and
// ends operations past their deadline (EndOverdue) every RescueInterval,
// until ctx ends. Every worker runs one, but with h.JanitorLease set only
// the worker holding the lease does the rounds: one janitor for the fleet,
// and another takes over within the lease's time to live when it dies.
// (Both rounds are idempotent, so a second janitor would be waste, not
// harm.)
func (h *Handlers) RunJanitor(ctx context.Context, insp *asynq.Inspector, queue string, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReapInterval
	}
	// Stale tasks are looked for every RescueInterval, the rest every
	// interval.
	every := interval
	if h.Running != nil {
		every = min(interval, RescueInterval)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last time.Time
	for ; ; h.waitRound(ctx, tick.C) {
		if ctx.Err() != nil {
			return
		}
		if h.JanitorLease != nil {
			held, err := h.JanitorLease.Acquire(ctx)
			if err != nil && ctx.Err() == nil {
				h.Logger.Warn("janitor lease: Redis does not answer", zap.Error(err))
			}
			if !held {
				continue
			}
		}
		if n, err := h.RescueStale(ctx, time.Now()); err != nil && ctx.Err() == nil {
			h.Logger.Warn("rescuing the tasks of silent workers failed", zap.Error(err))
		} else if n > 0 {
			h.Logger.Info("rescued the tasks of silent workers", zap.Int("tasks", n))
		}
		if n, err := h.RescueOrphans(ctx, insp, queue); err != nil && ctx.Err() == nil {
			h.Logger.Warn("rescuing orphaned tasks failed", zap.Error(err))
		} else if n > 0 {
			h.Logger.Info("rescued orphaned tasks", zap.Int("tasks", n))
		}
		if n, err := h.EndOverdue(ctx, time.Now()); err != nil && ctx.Err() == nil {
			h.Logger.Warn("ending operations past their deadline failed", zap.Error(err))
		} else if n > 0 {
			h.Logger.Info("ended operations past their deadline", zap.Int("operations", n))
		}
		if time.Since(last) >= interval {
			h.janitorRound(ctx, insp, queue)
			last = time.Now()
		}
	}
}

// waitRound waits for the next tick or the end of ctx.
func (h *Handlers) waitRound(ctx context.Context, tick <-chan time.Time) {
	select {
	case <-ctx.Done():
	case <-tick:
	}
}

// janitorRound reaps archived tasks and resubmits stuck operations once.
func (h *Handlers) janitorRound(ctx context.Context, insp *asynq.Inspector, queue string) {
	if n, err := h.ReapArchived(ctx, insp, queue); err != nil && ctx.Err() == nil {
		h.Logger.Warn("reaping archived tasks failed", zap.Error(err))
	} else if n > 0 {
		h.Logger.Info("reaped archived tasks", zap.Int("tasks", n))
	}
	if n, err := h.ResubmitStuck(ctx, time.Now()); err != nil && ctx.Err() == nil {
		h.Logger.Warn("resubmitting stuck operations failed", zap.Error(err))
	} else if n > 0 {
		h.Logger.Info("resubmitted operations still CREATED", zap.Int("operations", n))
	}
}
