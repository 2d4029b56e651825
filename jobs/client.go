package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/folio-ocr/folio/store"
)

// ClientOptions configures a Client. The zero value is usable.
type ClientOptions struct {
	// Queue is the asynq queue tasks go to. If empty, DefaultQueue.
	Queue string
}

// Client enqueues Folio's tasks. It shares the caller's Redis client and does
// not close it.
type Client struct {
	q      *asynq.Client
	queue  string
	logger *zap.Logger
}

// NewClient returns a Client over c. A nil opts is the zero value.
func NewClient(c redis.UniversalClient, logger *zap.Logger, opts *ClientOptions) *Client {
	if opts == nil {
		opts = &ClientOptions{}
	}
	q := opts.Queue
	if q == "" {
		q = DefaultQueue
	}
	return &Client{q: asynq.NewClientFromRedisClient(c), queue: q, logger: logger}
}

// EnqueueOperation enqueues one plan task per file of op. Enqueuing an
// operation twice is a no-op.
func (c *Client) EnqueueOperation(ctx context.Context, op *store.Operation) error {
	if op.Images != nil {
		t, err := newPlanImagesTask(PlanImagesPayload{Operation: op.ID}, c.queue)
		if err != nil {
			return err
		}
		if err := c.enqueue(ctx, t); err != nil {
			return fmt.Errorf("jobs: enqueue images of %s: %w", op.ID, err)
		}
		return nil
	}
	for i, r := range op.Request.GetRequests() {
		req, err := encodeRequest(r)
		if err != nil {
			return err
		}
		t, err := newPlanFileTask(PlanFilePayload{FileTask{Operation: op.ID, File: i, Request: req, Owner: op.Owner}}, c.queue)
		if err != nil {
			return err
		}
		if err := c.enqueue(ctx, t); err != nil {
			return fmt.Errorf("jobs: enqueue file %d of %s: %w", i, op.ID, err)
		}
	}
	c.logger.Debug("enqueued operation", zap.String("operation", op.ID), zap.Int("files", len(op.Request.GetRequests())))
	return nil
}

func (c *Client) enqueue(ctx context.Context, t *asynq.Task) error {
	_, err := c.q.EnqueueContext(ctx, t)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // already queued: enqueue is idempotent
	}
	if err != nil {
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return nil
}

// Close releases the client. The shared Redis client stays open: asynq
// refuses to close a connection it does not own, which is not an error here.
func (c *Client) Close() error { return nil }
