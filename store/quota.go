package store

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Quotas counts what API keys use, for their quotas. Counts are shared by
// every api process of a deployment.
type Quotas interface {
	// CountCall counts one call of API key owner in the minute that holds
	// now and returns the calls counted in that minute so far, this one
	// included.
	CountCall(ctx context.Context, owner string, now time.Time) (int64, error)
	// OwnerPagesPending returns the pages of owner's unfinished operations
	// (see RedisOperations.OwnerPagesPending).
	OwnerPagesPending(ctx context.Context, owner string) (int64, error)
}

var _ Quotas = (*RedisOperations)(nil)

// CountCall counts calls per key and calendar minute in
// <prefix>calls:{<owner>}:<unix minute>, which expires two minutes later:
// one INCR and one EXPIRE in one round trip.
func (s *RedisOperations) CountCall(ctx context.Context, owner string, now time.Time) (int64, error) {
	key := s.prefix + "calls:{" + owner + "}:" + strconv.FormatInt(now.Unix()/60, 10)
	var incr *redis.IntCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.Expire(ctx, key, 2*time.Minute)
		return nil
	})
	if err != nil {
		return 0, wrapRedis("count call of "+owner, err)
	}
	return incr.Val(), nil
}
