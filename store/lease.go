package store

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lease is a named lease in Redis that one holder at a time has: the first
// to Acquire it keeps it while it renews it within its time to live, and
// anyone may take it once the holder stops renewing (a process killed or
// cut off from Redis). It elects one janitor across a fleet of workers.
type Lease struct {
	c      redis.UniversalClient
	key    string
	holder string
	ttl    time.Duration
}

// NewLease returns the lease name under prefix (if empty, DefaultPrefix)
// for holder, a name unique to the process (host and pid, say), lasting ttl
// from each Acquire. The caller owns c.
func NewLease(c redis.UniversalClient, prefix, name, holder string, ttl time.Duration) *Lease {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Lease{c: c, key: prefix + "lease:" + name, holder: holder, ttl: ttl}
}

// acquireLeaseCmd takes a free lease or renews one held by the caller.
//
// KEYS[1] -> <prefix>lease:<name>   string: the holder
// ARGV[1] -> holder  ARGV[2] -> ttl in milliseconds
// Returns 1 if the caller holds the lease now, 0 if another does.
var acquireLeaseCmd = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// releaseLeaseCmd frees the lease if the caller holds it.
//
// KEYS[1] -> <prefix>lease:<name>   ARGV[1] -> holder
var releaseLeaseCmd = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`)

// Acquire takes the lease, or renews it if this holder has it, for its
// time to live; it reports whether this holder has it now.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	n, err := acquireLeaseCmd.Run(ctx, l.c, []string{l.key}, l.holder, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, wrapRedis("acquire lease "+l.key, err)
	}
	return n == 1, nil
}

// Release gives the lease up if this holder has it, so that another can
// take it at once (a worker draining on SIGTERM).
func (l *Lease) Release(ctx context.Context) error {
	if err := releaseLeaseCmd.Run(ctx, l.c, []string{l.key}, l.holder).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return wrapRedis("release lease "+l.key, err)
	}
	return nil
}
