package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RunningTask is a task a worker is running, as it registered it: enough
// to queue it again if the worker stops beating.
type RunningTask struct {
	// Key names the running task (its asynq task id).
	Key string `json:"-"`
	// Type and Payload are the asynq task's.
	Type    string `json:"type"`
	Payload []byte `json:"payload"`
	// Queue is the asynq queue it came from.
	Queue string `json:"queue"`
	// Beat is the time of its last heartbeat, in unix milliseconds.
	Beat int64 `json:"-"`
}

// Running records the long tasks workers are running, with a heartbeat
// each, in Redis: a sorted set of task keys by last beat and a hash of
// their payloads, under one hash tag so that its scripts run on Redis
// Cluster. A task whose worker was killed, frozen or cut off stops beating;
// the janitor finds it (Stale), takes it (Claim) and queues it again, well
// before asynq's lease and recoverer would.
type Running struct {
	c                         redis.UniversalClient
	prefix, beatsKey, taskKey string
}

// NewRunning returns Running under prefix (if empty, DefaultPrefix). The
// caller owns c.
func NewRunning(c redis.UniversalClient, prefix string) *Running {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Running{c: c, prefix: prefix, beatsKey: prefix + "{running}:beats", taskKey: prefix + "{running}:tasks"}
}

// Start registers t as running, beating now.
func (r *Running) Start(ctx context.Context, t RunningTask, now time.Time) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("store: register running task %s: %w", t.Key, err)
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.taskKey, t.Key, b)
		p.ZAdd(ctx, r.beatsKey, redis.Z{Score: float64(now.UnixMilli()), Member: t.Key})
		return nil
	})
	if err != nil {
		return wrapRedis("register running task "+t.Key, err)
	}
	return nil
}

// Beat records that the task key is still running at now, and reports
// whether it still was registered: false means the janitor claimed it (the
// worker was silent past StaleAfter, frozen or cut off) and queued it again,
// so this run should stop. A claimed task is not registered again.
func (r *Running) Beat(ctx context.Context, key string, now time.Time) (bool, error) {
	n, err := r.c.ZAddArgs(ctx, r.beatsKey, redis.ZAddArgs{XX: true, Ch: true,
		Members: []redis.Z{{Score: float64(now.UnixMilli()), Member: key}}}).Result()
	if err != nil {
		return false, wrapRedis("beat running task "+key, err)
	}
	if n == 1 {
		return true, nil
	}
	// Unchanged: claimed, or beaten twice in one millisecond.
	_, err = r.c.ZScore(ctx, r.beatsKey, key).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, wrapRedis("beat running task "+key, err)
	}
	return true, nil
}

// Done forgets the task key: it returned, whatever its outcome (asynq
// retries failures itself while its worker lives).
func (r *Running) Done(ctx context.Context, key string) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, r.beatsKey, key)
		p.HDel(ctx, r.taskKey, key)
		return nil
	})
	if err != nil {
		return wrapRedis("forget running task "+key, err)
	}
	return nil
}

// Stale returns up to limit tasks whose last beat is before before, oldest
// first.
func (r *Running) Stale(ctx context.Context, before time.Time, limit int) ([]RunningTask, error) {
	zs, err := r.c.ZRangeByScoreWithScores(ctx, r.beatsKey, &redis.ZRangeBy{
		Min: "-inf", Max: "(" + strconv.FormatInt(before.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, wrapRedis("list stale running tasks", err)
	}
	out := make([]RunningTask, 0, len(zs))
	for _, z := range zs {
		out = append(out, RunningTask{Key: z.Member.(string), Beat: int64(z.Score)})
	}
	return out, nil
}

// claimRunningCmd takes a stale task out of the running set if it has not beaten
// since it was seen stale, and marks it claimed for an hour.
//
// KEYS[1] -> <prefix>{running}:beats   sorted set: task key by last beat (ms)
// KEYS[2] -> <prefix>{running}:tasks   hash: task key -> registration JSON
// KEYS[3] -> <prefix>{running}:claimed:<task key>   the mark
// ARGV[1] -> task key  ARGV[2] -> the beat seen stale (ms)
// ARGV[3] -> seconds the mark lasts
// Returns the registration, or false if the task beat meanwhile or is gone.
var claimRunningCmd = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return false end
local t = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], '1', 'EX', ARGV[3])
return t
`)

// claimedFor is how long a claimed task stays marked (Claimed): longer
// than asynq takes to find the original orphaned (its 30 s lease).
const claimedFor = time.Hour

func (r *Running) claimedKey(key string) string { return r.prefix + "{running}:claimed:" + key }

// Claimed reports whether the task key was claimed (and so queued again)
// within the last hour.
func (r *Running) Claimed(ctx context.Context, key string) (bool, error) {
	n, err := r.c.Exists(ctx, r.claimedKey(key)).Result()
	if err != nil {
		return false, wrapRedis("get claimed task "+key, err)
	}
	return n == 1, nil
}

// Claim takes the stale task t (as Stale returned it) out of the running
// set and returns its registration, or ok false if its worker beat since
// (it was only slow) or another janitor claimed it.
func (r *Running) Claim(ctx context.Context, t RunningTask) (RunningTask, bool, error) {
	s, err := claimRunningCmd.Run(ctx, r.c, []string{r.beatsKey, r.taskKey, r.claimedKey(t.Key)}, t.Key, t.Beat,
		int64(claimedFor/time.Second)).Text()
	if errors.Is(err, redis.Nil) {
		return RunningTask{}, false, nil
	}
	if err != nil {
		return RunningTask{}, false, wrapRedis("claim running task "+t.Key, err)
	}
	var got RunningTask
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		return RunningTask{}, false, fmt.Errorf("store: claim running task %s: decode: %w", t.Key, err)
	}
	got.Key, got.Beat = t.Key, t.Beat
	return got, true, nil
}
