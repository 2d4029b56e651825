package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/folio-ocr/folio/rpcerr"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
)

var _ asynq.Logger = (*zap.SugaredLogger)(nil)

// ServerOptions configures NewServer.
type ServerOptions struct {
	// Concurrency is how many tasks run at once. If zero, asynq uses the
	// number of CPUs.
	Concurrency int
	// Queue is the asynq queue to serve. If empty, DefaultQueue.
	Queue string
	// ShutdownTimeout is how long Shutdown waits for running tasks before
	// handing them back to the queue. If zero, 25 s.
	ShutdownTimeout time.Duration
}

// NewServer returns an asynq server that runs h's tasks and ends an
// operation when one of its tasks fails for good. The caller starts it with
// Start(mux) and stops it with Shutdown.
func NewServer(c redis.UniversalClient, h *Handlers, opts ServerOptions) *asynq.Server {
	if opts.Queue == "" {
		opts.Queue = DefaultQueue
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 25 * time.Second
	}
	return asynq.NewServerFromRedisClient(c, asynq.Config{
		Concurrency: opts.Concurrency,
		// Idle workers look for new tasks this often (asynq's default is 1 s,
		// which adds up to a second of latency to every stage of an operation).
		TaskCheckInterval: 100 * time.Millisecond,
		Queues:            map[string]int{opts.Queue: 1},
		ShutdownTimeout:   opts.ShutdownTimeout,
		ErrorHandler:      asynq.ErrorHandlerFunc(h.handleError),
		RetryDelayFunc:    RetryDelay,
		IsFailure:         func(err error) bool { return !errors.Is(err, context.Canceled) },
		Logger:            h.Logger.Sugar(),
		LogLevel:          asynq.WarnLevel,
		HealthCheckFunc: func(err error) {
			if err != nil {
				h.Logger.Warn("redis health check failed", zap.Error(err))
			}
		},
	})
}

// handleError records a task's failure. A failure that will not be retried
// (permanent, or retries exhausted) ends the operation with an error that
// names the file, or, under FileErrorsContinue, only the file (see
// FileErrors); a retryable one is only logged.
func (h *Handlers) handleError(ctx context.Context, t *asynq.Task, err error) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	var p AnnotateRangePayload // a superset of PlanFilePayload
	_ = json.Unmarshal(t.Payload(), &p)
	unit := p.unit() // as annotateRange logs it: the task's pages, and the output range of a unit
	log := h.Logger.With(zap.String("operation", p.Operation), zap.String("task_type", t.Type()),
		zap.Int("file", p.File), zap.Int("first_page", unit.First), zap.Int("last_page", unit.Last),
		zap.Int("retried", retried), zap.Error(err))
	if p.split() {
		log = log.With(zap.String("output_range", fmt.Sprintf("%d-%d", p.First, p.Last)))
	}
	if errors.Is(err, asynq.ErrLeaseExpired) {
		// This worker was silent (frozen, cut off) past asynq's lease: the
		// janitor queued the task again meanwhile, and asynq's recoverer
		// retries or archives the original. Neither a failure of the task
		// nor, on its last attempt, of the operation.
		log.Info("task dropped: its lease expired while this worker was silent; it runs again elsewhere")
		return
	}
	if !errors.Is(err, asynq.SkipRetry) && retried < maxRetry {
		h.Metrics.TaskRetry(t.Type())
		log.Warn("task failed; will retry")
		return
	}
	h.Metrics.TaskFailure(t.Type())
	if t.Type() == TypeAnnotateSync {
		log.Error("synchronous call failed; its caller times out")
		return
	}
	if p.Operation == "" {
		log.Error("undecodable task dropped")
		return
	}
	var f *rpcerr.Error
	if !errors.As(err, &f) {
		code := rpcerr.Code(err)
		if code == codes.Canceled {
			code = codes.Internal
		}
		f = &rpcerr.Error{Code: code, Message: p.failureMessage(t.Type()), Err: err}
	}
	if h.continuePastFile(ctx, t.Type(), p, f, log) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ended, ferr := h.Ops.Fail(ctx, p.Operation, int32(f.Code), f.Message)
	if ferr != nil {
		log.Error("task failed for good; recording the failure failed too", zap.NamedError("store_error", ferr))
		return
	}
	if ended {
		log.Warn("operation failed", zap.String("message", f.Message), zap.String("code", f.Code.String()))
	}
}

// RetryDelay is the wait before retry n (0 for the first) of task t, which
// failed with err. A failure of Redis or storage (UNAVAILABLE) is a
// blip more often than not: it is retried in seconds, 1, 2, 4, 8, then every
// 10 s, not on asynq's default backoff (15 s and more, growing as n⁴), which
// turned a few seconds of outage into minutes. So is a task whose lease
// expired (asynq's recoverer retries it: its worker died, froze or lost
// Redis), which asynq's default would hold back 15 to 45 s more. Other
// errors keep asynq's default.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if rpcerr.Code(err) == codes.Unavailable || errors.Is(err, asynq.ErrLeaseExpired) {
		return min(time.Second<<min(n, 4), 10*time.Second)
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}
