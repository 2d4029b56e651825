package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/store"
)

// overdueLookback is how far before the deadline a janitor that starts
// looks for overdue operations: those that crossed the deadline while no
// janitor ran (the whole fleet down) are ended once it is back, up to this
// long after.
const overdueLookback = 24 * time.Hour

// A round of EndOverdue examines creation times an overdueWindow at a time,
// until it has caught up or examined overdueRoundOps operations: catching
// up after an absence costs a round trip per empty hour, and a burst of
// operations is spread over rounds.
const (
	overdueWindow   = time.Hour
	overdueRoundOps = 1000
)

// EndOverdue ends with DEADLINE_EXCEEDED every operation created between
// the deadline cursor and now minus h.OperationDeadline that has not
// finished, naming in its error the files and pages left, and moves the
// cursor on. Each operation is examined about once in its life, as it
// crosses the deadline. The cursor is h.DeadlineCursor, shared by the
// fleet's janitors, or else kept in memory; unset, it starts
// overdueLookback before the deadline. It returns how many operations it
// ended.
func (h *Handlers) EndOverdue(ctx context.Context, now time.Time) (int, error) {
	if h.OperationDeadline <= 0 {
		return 0, nil
	}
	from := h.overdueFrom
	if h.DeadlineCursor != nil {
		var err error
		if from, err = h.DeadlineCursor.Get(ctx); err != nil {
			return 0, err
		}
	}
	target := now.Add(-h.OperationDeadline)
	if from.IsZero() {
		from = target.Add(-overdueLookback)
	}
	ended, examined := 0, 0
	for from.Before(target) && examined < overdueRoundOps {
		to := minTime(target, from.Add(overdueWindow))
		ops, err := h.Ops.Unfinished(ctx, from, to)
		if err != nil {
			return ended, err
		}
		for _, op := range ops {
			ok, err := h.endOverdue(ctx, op)
			if err != nil {
				return ended, err
			}
			if ok {
				ended++
			}
		}
		examined += len(ops)
		from = to
		h.overdueFrom = to
		if h.DeadlineCursor != nil {
			if err := h.DeadlineCursor.Set(ctx, to); err != nil {
				return ended, err
			}
		}
	}
	return ended, nil
}

// endOverdue ends op, unless it finished meanwhile, and reports whether
// this call ended it.
func (h *Handlers) endOverdue(ctx context.Context, op *store.Operation) (bool, error) {
	msg, err := h.overdueMessage(ctx, op)
	if err != nil {
		return false, err
	}
	ended, err := h.Ops.Fail(ctx, op.ID, int32(codes.DeadlineExceeded), msg)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("jobs: end overdue operation %s: %w", op.ID, err)
	}
	if ended {
		h.Metrics.JanitorAction(metrics.JanitorOverdueOperation)
		h.Logger.Warn("operation ended: past its deadline", zap.String("operation", op.ID),
			zap.Time("created", op.CreateTime), zap.Duration("deadline", h.OperationDeadline), zap.String("message", msg))
	}
	return ended, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// maxStuckNamed bounds the ranges an overdue operation's message names.
const maxStuckNamed = 5

// overdueMessage says what op still had to do when it crossed the
// deadline: the files not planned yet, and the page ranges not done, by
// file URI.
func (h *Handlers) overdueMessage(ctx context.Context, op *store.Operation) (string, error) {
	p, err := h.Ops.Progress(ctx, op.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil // gone meanwhile; Fail finds nothing to end
	}
	if err != nil {
		return "", fmt.Errorf("jobs: progress of overdue operation %s: %w", op.ID, err)
	}
	var stuck []string
	planned := map[int]bool{}
	for _, f := range p.Planned {
		planned[f] = true
	}
	files := op.Request.GetRequests()
	for i, r := range files {
		if !planned[i] {
			stuck = append(stuck, fmt.Sprintf("%s (not opened yet)", r.GetInputConfig().GetGcsSource().GetUri()))
		}
	}
	for _, r := range p.Ranges {
		if r.Done {
			continue
		}
		what := fmt.Sprintf("file %d", r.File)
		if r.File < len(files) {
			what = files[r.File].GetInputConfig().GetGcsSource().GetUri()
		} else if op.Images != nil {
			what = "images"
		}
		stuck = append(stuck, fmt.Sprintf("%s pages %d-%d", what, r.First, r.Last))
	}
	if op.Images != nil && len(p.Planned) == 0 {
		stuck = append(stuck, fmt.Sprintf("%d images (not planned yet)", len(op.Images.GetRequests())))
	}
	left := ""
	switch {
	case len(stuck) == 0:
		left = "nothing was left to do but finishing it"
	case len(stuck) > maxStuckNamed:
		left = "work left: " + strings.Join(stuck[:maxStuckNamed], ", ") + fmt.Sprintf(" and %d more", len(stuck)-maxStuckNamed)
	default:
		left = "work left: " + strings.Join(stuck, ", ")
	}
	return fmt.Sprintf("operation did not finish within its deadline of %s (OPERATION_DEADLINE); %s", h.OperationDeadline, left), nil
}
