package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Results carries the answers of synchronous calls (files:annotate,
// images:annotate) from the worker that computed them to the api process
// that waits for them. Each call has an id of its own; a result is taken
// once.
type Results interface {
	// Put delivers data as the result of call id. A result nobody takes
	// expires after ttl.
	Put(ctx context.Context, id string, data []byte, ttl time.Duration) error
	// Wait returns the result of call id once it arrives, or ctx's error
	// when ctx ends first.
	Wait(ctx context.Context, id string) ([]byte, error)
}

// resultPoll bounds one blocking read, so that a waiter notices the end of
// its context within it even if the connection does not.
const resultPoll = 2 * time.Second

// RedisResults is the Redis implementation of Results: a list per call,
// pushed by Put and popped by a blocking Wait, so a result reaches its
// waiter in one round trip. Each waiting call holds one connection of the
// client's pool.
type RedisResults struct {
	c      redis.UniversalClient
	prefix string
}

var _ Results = (*RedisResults)(nil)

// NewRedisResults returns Results over c under the key prefix (if empty,
// DefaultPrefix). The caller owns c.
func NewRedisResults(c redis.UniversalClient, prefix string) *RedisResults {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &RedisResults{c: c, prefix: prefix}
}

// key is the list of call id's result.
func (r *RedisResults) key(id string) string { return r.prefix + "result:{" + id + "}" }

// Put pushes data to the call's list and sets its expiry, in one round trip.
func (r *RedisResults) Put(ctx context.Context, id string, data []byte, ttl time.Duration) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, r.key(id), data)
		p.Expire(ctx, r.key(id), ttl)
		return nil
	})
	if err != nil {
		return wrapRedis("put result "+id, err)
	}
	return nil
}

// Wait pops the call's result, blocking in reads of at most two seconds
// until it arrives or ctx ends.
func (r *RedisResults) Wait(ctx context.Context, id string) ([]byte, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("store: wait for result %s: %w", id, err)
		}
		wait := resultPoll
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, max(time.Until(d), time.Millisecond))
		}
		v, err := r.c.BLPop(ctx, wait, r.key(id)).Result()
		switch {
		case err == nil:
			return []byte(v[1]), nil
		case errors.Is(err, redis.Nil):
			continue
		case ctx.Err() != nil:
			return nil, fmt.Errorf("store: wait for result %s: %w", id, ctx.Err())
		default:
			return nil, wrapRedis("wait for result "+id, err)
		}
	}
}
