package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// DefaultTTL is how long an operation is kept after its last change when
// RedisOptions.TTL is zero (OPERATION_TTL).
const DefaultTTL = 30 * 24 * time.Hour

// RedisOptions configures RedisOperations. The zero value is usable.
type RedisOptions struct {
	// Prefix starts every key. If empty, "folio:" is used. Tests use a
	// unique prefix to isolate themselves.
	Prefix string
	// TTL is how long an operation's keys live after its last write. If
	// zero, DefaultTTL is used.
	TTL time.Duration
}

// RedisOperations is the Redis implementation of Operations.
type RedisOperations struct {
	c      redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ Operations = (*RedisOperations)(nil)

// NewRedisOperations returns a store backed by c. A nil opts is treated as
// the zero value. The caller owns c and closes it.
func NewRedisOperations(c redis.UniversalClient, opts *RedisOptions) *RedisOperations {
	if opts == nil {
		opts = &RedisOptions{}
	}
	s := &RedisOperations{c: c, prefix: opts.Prefix, ttl: opts.TTL}
	if s.prefix == "" {
		s.prefix = "folio:"
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	return s
}

// Keys of one operation share the {id} hash tag.
func (s *RedisOperations) opKey(id string) string      { return s.prefix + "op:{" + id + "}" }
func (s *RedisOperations) plannedKey(id string) string { return s.opKey(id) + ":planned" }
func (s *RedisOperations) rangesKey(id string) string  { return s.opKey(id) + ":ranges" }
func (s *RedisOperations) doneKey(id string) string    { return s.opKey(id) + ":done" }
func (s *RedisOperations) indexKey() string            { return s.prefix + "ops" }

func (s *RedisOperations) keys(id string) []string {
	return []string{s.opKey(id), s.plannedKey(id), s.rangesKey(id), s.doneKey(id)}
}

func rangeMember(r Range) string { return fmt.Sprintf("%d:%d-%d", r.File, r.First, r.Last) }

// Hash fields of an operation.
const (
	fName       = "name"
	fVersion    = "version"
	fState      = "state"
	fCreate     = "ctime"
	fUpdate     = "utime"
	fRequest    = "request"
	fFiles      = "files"
	fDone       = "done"
	fErrCode    = "ecode"
	fErrMsg     = "emsg"
	fPagesTotal = "pages_total"
	fPagesDone  = "pages_done"
)

// Create records op in state CREATED and indexes it for listing.
func (s *RedisOperations) Create(ctx context.Context, op *Operation) error {
	if op.ID == "" || op.Request == nil {
		return fmt.Errorf("store: create operation: id and request are required")
	}
	req, err := proto.Marshal(op.Request)
	if err != nil {
		return fmt.Errorf("store: create operation %s: encode request: %w", op.ID, err)
	}
	now := op.CreateTime
	if now.IsZero() {
		now = time.Now()
	}
	created, err := createCmd.Run(ctx, s.c, []string{s.opKey(op.ID)},
		int64(s.ttl/time.Second),
		fName, op.Name,
		fVersion, op.APIVersion,
		fState, int32(visionpb.OperationMetadata_CREATED),
		fCreate, now.UnixNano(),
		fUpdate, now.UnixNano(),
		fRequest, req,
		fFiles, len(op.Request.GetRequests()),
		fDone, 0,
		fPagesTotal, 0,
		fPagesDone, 0,
	).Int()
	if err != nil {
		return wrapRedis("create operation "+op.ID, err)
	}
	if created == 0 {
		return fmt.Errorf("store: create operation %s: %w", op.ID, ErrAlreadyExists)
	}
	// The index lives in its own slot, so it is written apart; an entry
	// whose operation is gone is dropped when List meets it. Operations live
	// TTL after their last change, so entries are kept twice as long.
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, s.indexKey(), redis.Z{Score: float64(now.UnixMicro()), Member: op.ID})
		p.ZRemRangeByScore(ctx, s.indexKey(), "-inf", strconv.FormatInt(now.Add(-2*s.ttl).UnixMicro(), 10))
		return nil
	})
	if err != nil {
		return wrapRedis("index operation "+op.ID, err)
	}
	return nil
}

// createCmd writes a new operation's hash and its TTL at once.
//
// KEYS[1] -> <prefix>op:{<id>}
// ARGV[1] -> ttl seconds  ARGV[2..] -> field, value, ...
// Returns 0 if the operation exists, else 1.
var createCmd = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`)

// Get returns the operation with the given id.
func (s *RedisOperations) Get(ctx context.Context, id string) (*Operation, error) {
	m, err := s.c.HGetAll(ctx, s.opKey(id)).Result()
	if err != nil {
		return nil, wrapRedis("get operation "+id, err)
	}
	if len(m) == 0 || m[fRequest] == "" {
		return nil, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	}
	op := &Operation{
		ID:           id,
		Name:         m[fName],
		APIVersion:   m[fVersion],
		State:        State(atoi(m[fState])),
		CreateTime:   time.Unix(0, atoi64(m[fCreate])).UTC(),
		UpdateTime:   time.Unix(0, atoi64(m[fUpdate])).UTC(),
		Done:         m[fDone] == "1",
		ErrorCode:    int32(atoi(m[fErrCode])),
		ErrorMessage: m[fErrMsg],
		PagesDone:    atoi(m[fPagesDone]),
		PagesTotal:   atoi(m[fPagesTotal]),
		Request:      &visionpb.AsyncBatchAnnotateFilesRequest{},
	}
	if err := proto.Unmarshal([]byte(m[fRequest]), op.Request); err != nil {
		return nil, fmt.Errorf("store: operation %s: decode request: %w", id, err)
	}
	return op, nil
}

// Finished reports whether the operation is done, failed or cancelled. It
// is cheaper than Get; workers call it between pages.
func (s *RedisOperations) Finished(ctx context.Context, id string) (bool, error) {
	v, err := s.c.HGet(ctx, s.opKey(id), fDone).Result()
	if errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return false, wrapRedis("get operation "+id, err)
	}
	return v == "1", nil
}

// List returns up to pageSize operations, newest first. The page token is a
// cursor (creation time and id of the last operation returned), so
// operations created while a client pages do not shift the pages. Entries
// whose operation expired are dropped from the index as they are met.
func (s *RedisOperations) List(ctx context.Context, pageSize int, pageToken string) ([]*Operation, string, error) {
	if pageSize <= 0 {
		pageSize = 100
	}
	max, afterID := "+inf", ""
	if pageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		score, id, ok := strings.Cut(string(b), ":")
		if _, perr := strconv.ParseInt(score, 10, 64); err != nil || !ok || perr != nil || id == "" {
			return nil, "", fmt.Errorf("store: list operations: page token %q: %w", pageToken, ErrInvalidArgument)
		}
		max, afterID = score, id
	}
	// Members with equal scores come in reverse id order; skip those up to
	// and including the cursor. 64 extra covers any ties.
	zs, err := s.c.ZRevRangeByScoreWithScores(ctx, s.indexKey(), &redis.ZRangeBy{
		Max: max, Min: "-inf", Count: int64(pageSize + 64),
	}).Result()
	if err != nil {
		return nil, "", wrapRedis("list operations", err)
	}
	ops := make([]*Operation, 0, pageSize)
	next, seen := "", ""
	for _, z := range zs {
		id := z.Member.(string)
		score := strconv.FormatInt(int64(z.Score), 10)
		if afterID != "" && score == max && id >= afterID {
			continue
		}
		if len(ops) == pageSize {
			break
		}
		seen = base64.RawURLEncoding.EncodeToString([]byte(score + ":" + id))
		op, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			s.c.ZRem(ctx, s.indexKey(), id)
			continue
		}
		if err != nil {
			return nil, "", err
		}
		ops = append(ops, op)
		next = base64.RawURLEncoding.EncodeToString([]byte(score + ":" + id))
	}
	switch {
	case len(ops) == pageSize:
	case len(zs) == pageSize+64:
		next = seen // expired entries filled the fetch: go on after them
	default:
		next = ""
	}
	return ops, next, nil
}

// Created returns the operations created between from and to that are
// still in state CREATED, oldest first.
func (s *RedisOperations) Created(ctx context.Context, from, to time.Time) ([]*Operation, error) {
	ids, err := s.c.ZRangeByScore(ctx, s.indexKey(), &redis.ZRangeBy{
		Min: strconv.FormatInt(from.UnixMicro(), 10), Max: strconv.FormatInt(to.UnixMicro(), 10),
	}).Result()
	if err != nil {
		return nil, wrapRedis("list created operations", err)
	}
	// One round trip for every state: nearly all have left CREATED.
	states := make([]*redis.StringCmd, len(ids))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			states[i] = p.HGet(ctx, s.opKey(id), fState)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrapRedis("list created operations", err)
	}
	var ops []*Operation
	for i, id := range ids {
		if state, err := states[i].Int(); err != nil || State(state) != visionpb.OperationMetadata_CREATED {
			continue // gone, or past CREATED
		}
		op, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// planFileCmd records the ranges of one file once and moves the operation
// to RUNNING.
//
// KEYS[1] -> <prefix>op:{<id>}          KEYS[2] -> ...:planned
// KEYS[3] -> <prefix>op:{<id>}:ranges   KEYS[4] -> ...:done
// ARGV[1] -> file index  ARGV[2] -> now (unix ns)  ARGV[3] -> ttl seconds
// ARGV[4] -> pages in the file  ARGV[5..] -> range members "file:first-last"
// Returns -1 if the operation is missing, 2 if it is finished, else 0.
var planFileCmd = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'done') == '1' then return 2 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  for i = 5, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
  redis.call('HINCRBY', KEYS[1], 'pages_total', ARGV[4])
end
if redis.call('HGET', KEYS[1], 'state') == '1' then
  redis.call('HSET', KEYS[1], 'state', 2)
end
redis.call('HSET', KEYS[1], 'utime', ARGV[2])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return 0
`)

// completeRangeCmd records one finished range; the call that records the
// last range of the last file finalizes the operation.
//
// KEYS as planFileCmd.
// ARGV[1] -> range member  ARGV[2] -> now (unix ns)  ARGV[3] -> ttl seconds
// ARGV[4] -> pages in the range
// Returns -1 if the operation is missing, -2 if the range was never
// planned, 2 if the operation is already finished, 1 if this call
// finalized it, else 0.
var completeRangeCmd = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'done') == '1' then return 2 end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return -2 end
if redis.call('SADD', KEYS[4], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'pages_done', ARGV[4])
end
` + dropPartsLua + `
drop_parts(KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], 'utime', ARGV[2])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
local files = tonumber(redis.call('HGET', KEYS[1], 'files'))
if redis.call('SCARD', KEYS[2]) >= files and redis.call('SCARD', KEYS[4]) >= redis.call('SCARD', KEYS[3]) then
  redis.call('HSET', KEYS[1], 'done', 1, 'state', 3)
  return 1
end
return 0
`)

// finishCmd ends an unfinished operation with an error.
//
// KEYS as planFileCmd.
// ARGV[1] -> state  ARGV[2] -> google.rpc code  ARGV[3] -> message
// ARGV[4] -> now (unix ns)  ARGV[5] -> ttl seconds
// Returns -1 if the operation is missing, 1 if this call ended it, else 0.
var finishCmd = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'done') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'done', 1, 'state', ARGV[1], 'ecode', ARGV[2], 'emsg', ARGV[3], 'utime', ARGV[4])
` + dropPartsLua + `
for _, r in ipairs(redis.call('SMEMBERS', KEYS[3])) do drop_parts(KEYS[1], r) end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return 1
`)

// PlanFile records the ranges of one file and moves the operation to
// RUNNING. Repeating it for the same file changes nothing.
func (s *RedisOperations) PlanFile(ctx context.Context, id string, file int, ranges []Range) (Completion, error) {
	args := []any{file, time.Now().UnixNano(), int64(s.ttl / time.Second), 0}
	pages := 0
	for _, r := range ranges {
		if r.File != file {
			return 0, fmt.Errorf("store: plan file %d of %s: range %+v belongs to another file", file, id, r)
		}
		args = append(args, rangeMember(r))
		pages += r.Last - r.First + 1
	}
	args[3] = pages
	n, err := planFileCmd.Run(ctx, s.c, s.keys(id), args...).Int()
	if err != nil {
		return 0, wrapRedis(fmt.Sprintf("plan file %d of %s", file, id), err)
	}
	switch n {
	case -1:
		return 0, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	case 2:
		return AlreadyFinished, nil
	}
	return Recorded, nil
}

// CompleteRange records r as finished. It is idempotent; the call that
// finishes the operation's last range returns Finalized, exactly once.
func (s *RedisOperations) CompleteRange(ctx context.Context, id string, r Range) (Completion, error) {
	n, err := completeRangeCmd.Run(ctx, s.c, s.keys(id),
		rangeMember(r), time.Now().UnixNano(), int64(s.ttl/time.Second), r.Last-r.First+1).Int()
	if err != nil {
		return 0, wrapRedis(fmt.Sprintf("complete range %s of %s", rangeMember(r), id), err)
	}
	switch n {
	case -1:
		return 0, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	case -2:
		return 0, fmt.Errorf("store: operation %s: range %s was never planned", id, rangeMember(r))
	case 1:
		return Finalized, nil
	case 2:
		return AlreadyFinished, nil
	}
	return Recorded, nil
}

// Fail ends the operation with a google.rpc code and message unless it has
// already ended.
func (s *RedisOperations) Fail(ctx context.Context, id string, code int32, message string) (bool, error) {
	return s.finish(ctx, id, visionpb.OperationMetadata_DONE, code, message)
}

// Cancel ends an unfinished operation as CANCELLED with error code 1.
func (s *RedisOperations) Cancel(ctx context.Context, id string) (bool, error) {
	return s.finish(ctx, id, visionpb.OperationMetadata_CANCELLED, 1, "Operation was cancelled.")
}

func (s *RedisOperations) finish(ctx context.Context, id string, state State, code int32, message string) (bool, error) {
	n, err := finishCmd.Run(ctx, s.c, s.keys(id),
		int32(state), code, message, time.Now().UnixNano(), int64(s.ttl/time.Second)).Int()
	if err != nil {
		return false, wrapRedis("finish operation "+id, err)
	}
	if n == -1 {
		return false, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	}
	return n == 1, nil
}

// Delete removes every key of the operation.
func (s *RedisOperations) Delete(ctx context.Context, id string) error {
	if err := dropAllPartsCmd.Run(ctx, s.c, s.keys(id)).Err(); err != nil {
		return wrapRedis("delete parts of operation "+id, err)
	}
	n, err := s.c.Del(ctx, s.keys(id)...).Result()
	if err != nil {
		return wrapRedis("delete operation "+id, err)
	}
	s.c.ZRem(ctx, s.indexKey(), id)
	if n == 0 {
		return fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	}
	return nil
}

// Ping reports whether Redis answers.
func (s *RedisOperations) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return wrapRedis("ping", err)
	}
	return nil
}

// wrapRedis turns a go-redis failure into a store error. Context errors are
// kept as they are; everything else is ErrUnavailable.
func wrapRedis(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return fmt.Errorf("store: %s: %w: %v", what, ErrUnavailable, err)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// dropPartsLua defines drop_parts(op, member), which deletes the saved
// units of one range: the parts and the set naming them. Part keys share the
// operation's {id} hash tag.
const dropPartsLua = `
local function drop_parts(op, member)
  local u = op .. ':units:' .. member
  for _, m in ipairs(redis.call('SMEMBERS', u)) do
    redis.call('DEL', op .. ':part:' .. member .. ':' .. m)
  end
  redis.call('DEL', u)
end`

// dropAllPartsCmd deletes the saved units of every range of an operation.
//
// KEYS as planFileCmd.
var dropAllPartsCmd = redis.NewScript(dropPartsLua + `
for _, r in ipairs(redis.call('SMEMBERS', KEYS[3])) do drop_parts(KEYS[1], r) end
return 0
`)

// savePartCmd stores one unit of a range and counts the range's units.
//
// KEYS[1] -> <prefix>op:{<id>}
// ARGV[1] -> range member  ARGV[2] -> unit (first page)  ARGV[3] -> data
// ARGV[4] -> ttl seconds
// Returns -1 if the operation is missing, -2 if it is finished, else the
// number of distinct units of the range saved.
var savePartCmd = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'done') == '1' then return -2 end
local u = KEYS[1] .. ':units:' .. ARGV[1]
redis.call('SET', KEYS[1] .. ':part:' .. ARGV[1] .. ':' .. ARGV[2], ARGV[3], 'EX', ARGV[4])
redis.call('SADD', u, ARGV[2])
redis.call('EXPIRE', u, ARGV[4])
return redis.call('SCARD', u)
`)

// SavePart stores data, the output of the unit of range r that starts at
// page unit, and returns how many distinct units of r are saved. Saving a
// unit again replaces it and counts once. It reports AlreadyFinished (and
// saves nothing) when the operation is finished.
func (s *RedisOperations) SavePart(ctx context.Context, id string, r Range, unit int, data []byte) (int, Completion, error) {
	n, err := savePartCmd.Run(ctx, s.c, []string{s.opKey(id)},
		rangeMember(r), unit, data, int64(s.ttl/time.Second)).Int()
	if err != nil {
		return 0, 0, wrapRedis(fmt.Sprintf("save unit %d of range %s of %s", unit, rangeMember(r), id), err)
	}
	switch n {
	case -1:
		return 0, 0, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	case -2:
		return 0, AlreadyFinished, nil
	}
	return n, Recorded, nil
}

// Part returns the saved unit of range r that starts at page unit, or an
// error wrapping ErrNotFound. Parts are deleted once their range completes
// or the operation ends.
func (s *RedisOperations) Part(ctx context.Context, id string, r Range, unit int) ([]byte, error) {
	b, err := s.c.Get(ctx, s.opKey(id)+":part:"+rangeMember(r)+":"+strconv.Itoa(unit)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: unit %d of range %s of %s: %w", unit, rangeMember(r), id, ErrNotFound)
	}
	if err != nil {
		return nil, wrapRedis(fmt.Sprintf("read unit %d of range %s of %s", unit, rangeMember(r), id), err)
	}
	return b, nil
}
