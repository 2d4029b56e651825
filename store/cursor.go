package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cursor is an instant kept in Redis, for a fleet-wide scan that resumes
// where the last holder of a lease left it (the janitor's deadline scan).
type Cursor struct {
	c   redis.UniversalClient
	key string
}

// NewCursor returns the cursor name under prefix (if empty,
// DefaultPrefix). The caller owns c.
func NewCursor(c redis.UniversalClient, prefix, name string) *Cursor {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Cursor{c: c, key: prefix + "cursor:" + name}
}

// Get returns the cursor, or the zero time if it was never set.
func (c *Cursor) Get(ctx context.Context) (time.Time, error) {
	v, err := c.c.Get(ctx, c.key).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, wrapRedis("get cursor "+c.key, err)
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, nil // unreadable: start over
	}
	return time.Unix(0, ns), nil
}

// Set moves the cursor to t.
func (c *Cursor) Set(ctx context.Context, t time.Time) error {
	if err := c.c.Set(ctx, c.key, t.UnixNano(), 0).Err(); err != nil {
		return wrapRedis("set cursor "+c.key, err)
	}
	return nil
}
