package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
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
	// Prefix starts every key. If empty, DefaultPrefix is used. Tests use
	// a unique prefix to isolate themselves.
	Prefix string
	// TTL is how long an operation's keys live after its last write, and
	// how long an idempotency key maps to its operation. If zero,
	// DefaultTTL is used.
	TTL time.Duration
}

// RedisOperations is the Redis implementation of Operations.
type RedisOperations struct {
	c      redis.UniversalClient
	prefix string
	ttl    time.Duration
	// slotted keeps a backlog hash per hash slot (backlogKey): set for a
	// Redis Cluster client.
	slotted      bool
	slotKeysOnce sync.Once
	slotKeys     []string // backlogKeys when slotted
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
		s.prefix = DefaultPrefix
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	_, s.slotted = c.(*redis.ClusterClient)
	return s
}

// Keys of one operation share the {id} hash tag; doc.go lists them.
func (s *RedisOperations) opKey(id string) string      { return s.prefix + "op:{" + id + "}" }
func (s *RedisOperations) plannedKey(id string) string { return s.opKey(id) + ":planned" }
func (s *RedisOperations) rangesKey(id string) string  { return s.opKey(id) + ":ranges" }
func (s *RedisOperations) doneKey(id string) string    { return s.opKey(id) + ":done" }
func (s *RedisOperations) indexKey() string            { return s.prefix + "ops" }

// ownerIndexKey is the index of one API key's operations, which List reads
// for a filter with an owner, so that a key pages through its own
// operations only, never past (or with page tokens naming) other keys'.
func (s *RedisOperations) ownerIndexKey(owner string) string { return s.prefix + "ops:owner:" + owner }

// unitsKey is the set of the saved units of one range; member is
// rangeMember's.
func (s *RedisOperations) unitsKey(id, member string) string {
	return s.opKey(id) + ":units:" + member
}

// partKey holds one saved unit of a range, named by its first page.
func (s *RedisOperations) partKey(id, member string, unit int) string {
	return s.opKey(id) + ":part:" + member + ":" + strconv.Itoa(unit)
}

// idemKey maps an idempotency key to the operation created with it. It has
// a slot of its own: no script touches it together with an operation's keys.
func (s *RedisOperations) idemKey(key string) string { return s.prefix + "idem:" + key }

// keys are the five keys every operation script declares first: the
// operation's four and its backlog key.
func (s *RedisOperations) keys(id string) []string {
	return []string{s.opKey(id), s.plannedKey(id), s.rangesKey(id), s.doneKey(id), s.backlogKey(id)}
}

// partKeys are the keys the saved units of range member (first..last) may
// occupy: its units set, and a part key for every page, since a unit is
// named by its first page and any page may start one. Scripts that drop
// parts declare these keys rather than derive them from the units set.
func (s *RedisOperations) partKeys(id, member string, first, last int) []string {
	ks := make([]string, 0, 1+max(0, last-first+1))
	ks = append(ks, s.unitsKey(id, member))
	for p := first; p <= last; p++ {
		ks = append(ks, s.partKey(id, member, p))
	}
	return ks
}

// allPartKeys are the partKeys of every range member in members.
func (s *RedisOperations) allPartKeys(id string, members []string) []string {
	var ks []string
	for _, m := range members {
		_, pages, _ := strings.Cut(m, ":")
		a, b, _ := strings.Cut(pages, "-")
		first, err1 := strconv.Atoi(a)
		last, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil {
			ks = append(ks, s.unitsKey(id, m)) // not rangeMember's: no parts
			continue
		}
		ks = append(ks, s.partKeys(id, m, first, last)...)
	}
	return ks
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
	fKind       = "kind" // kindImages for images:asyncBatchAnnotate; absent for files
	fFiles      = "files"
	fDone       = "done"
	fErrCode    = "ecode"
	fErrMsg     = "emsg"
	fPagesTotal = "pages_total"
	fPagesDone  = "pages_done"
	fIdemKey    = "idem"  // the idempotency key, so that Delete can drop its mapping
	fStart      = "stime" // when PlanFile moved the operation to RUNNING (unix ns)
	fOwner      = "owner" // the API key that created the operation
	// failedPrefix starts the field of a completed range's failed pages,
	// "failed:<range member>", written only when there are any.
	failedPrefix = "failed:"
	// fileErrCodePrefix and fileErrMsgPrefix start the fields of a file
	// that failed as a whole (FailFile): "ferr:<file>" holds its google.rpc
	// code, "femsg:<file>" its message.
	fileErrCodePrefix = "ferr:"
	fileErrMsgPrefix  = "femsg:"
)

// kindImages is fKind of an operation whose request is an
// AsyncBatchAnnotateImagesRequest.
const kindImages = "images"

// maxAttempts bounds the optimistic loops of Create and finish. Each retry
// follows a concurrent change (another Create taking over a key whose
// operation is gone, a file planned meanwhile), of which there are few.
const maxAttempts = 10

// Create records op in state CREATED and indexes it for listing. With an
// idempotency key it then claims the key (see claim); an operation that
// loses the claim is deleted again, as is one Create fails to index or
// claim for, so a failed Create leaves nothing behind (or, if the deletion
// fails too, an unindexed operation that expires with the TTL).
//
// The operation is indexed before its key is claimed, so every operation a
// key maps to is in the index and the janitor re-enqueues it if the process
// dies before enqueuing its work. The price: an operation that loses a
// claim is listed for the moment it takes to delete it.
func (s *RedisOperations) Create(ctx context.Context, op *Operation) error {
	if op.ID == "" || (op.Request == nil) == (op.Images == nil) {
		return fmt.Errorf("store: create operation: an id and one request, files or images, are required")
	}
	var (
		req   []byte
		err   error
		files = len(op.Request.GetRequests())
	)
	if op.Images != nil {
		req, err = proto.Marshal(op.Images)
		files = 1
	} else {
		req, err = proto.Marshal(op.Request)
	}
	if err != nil {
		return fmt.Errorf("store: create operation %s: encode request: %w", op.ID, err)
	}
	now := op.CreateTime
	if now.IsZero() {
		now = time.Now()
	}
	args := []any{
		int64(s.ttl / time.Second),
		fName, op.Name,
		fVersion, op.APIVersion,
		fState, int32(visionpb.OperationMetadata_CREATED),
		fCreate, now.UnixNano(),
		fUpdate, now.UnixNano(),
		fRequest, req,
		fFiles, files,
		fDone, 0,
		fPagesTotal, 0,
		fPagesDone, 0,
	}
	if op.IdempotencyKey != "" {
		args = append(args, fIdemKey, op.IdempotencyKey)
	}
	if op.Images != nil {
		args = append(args, fKind, kindImages)
	}
	if op.Owner != "" {
		args = append(args, fOwner, op.Owner)
	}
	created, err := createCmd.Run(ctx, s.c, []string{s.opKey(op.ID), s.backlogKey(op.ID)}, args...).Int()
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
		indexes := []string{s.indexKey()}
		if op.Owner != "" {
			indexes = append(indexes, s.ownerIndexKey(op.Owner))
		}
		for _, index := range indexes {
			p.ZAdd(ctx, index, redis.Z{Score: float64(now.UnixMicro()), Member: op.ID})
			p.ZRemRangeByScore(ctx, index, "-inf", strconv.FormatInt(now.Add(-2*s.ttl).UnixMicro(), 10))
		}
		return nil
	})
	if err != nil {
		s.discard(ctx, op.ID) // unindexed, the janitor could not rescue it
		return wrapRedis("index operation "+op.ID, err)
	}
	if op.IdempotencyKey == "" {
		return nil
	}
	if err := s.claim(ctx, op.ID, op.IdempotencyKey); err != nil {
		s.discard(ctx, op.ID)
		return err
	}
	return nil
}

// claim maps key to operation id, which exists, unless the key maps to
// another operation that still exists: then it returns a *DuplicateError
// naming that one. A key mapping to an operation that is gone (expired,
// or deleted or discarded by a process that died, or lost Redis, before
// releasing the key) is taken over with a compare-and-set, so of many
// callers racing for it one wins. Every operation is created before
// its key is claimed, so a mapped operation that does not exist is gone for
// good: no caller waits for one to appear.
//
// It costs one round trip (claimCmd) when the key is free, two (claimCmd,
// EXISTS) when it is taken.
func (s *RedisOperations) claim(ctx context.Context, id, key string) error {
	replace := ""
	for range maxAttempts {
		holder, err := claimCmd.Run(ctx, s.c, []string{s.idemKey(key)}, id, int64(s.ttl/time.Second), replace).Text()
		if err != nil {
			return wrapRedis(fmt.Sprintf("claim idempotency key %q for %s", key, id), err)
		}
		if holder == id {
			return nil
		}
		n, err := s.c.Exists(ctx, s.opKey(holder)).Result()
		if err != nil {
			return wrapRedis(fmt.Sprintf("claim idempotency key %q for %s", key, id), err)
		}
		if n == 1 {
			return &DuplicateError{Key: key, ID: holder}
		}
		replace = holder
	}
	return fmt.Errorf("store: claim idempotency key %q for %s: its operation changed %d times: %w",
		key, id, maxAttempts, ErrUnavailable)
}

// discard deletes an operation Create recorded but must not keep, on a
// context of its own: the caller's may be what failed. If it fails, the
// operation expires with the TTL.
func (s *RedisOperations) discard(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.Delete(ctx, id)
}

// createCmd writes a new operation's hash and its TTL at once, and counts
// it in the backlog.
//
// KEYS[1] -> <prefix>op:{<id>}  KEYS[2] -> its backlog key (backlogKey)
// ARGV[1] -> ttl seconds  ARGV[2..] -> field, value, ...
// Returns 0 if the operation exists, else 1.
var createCmd = redis.NewScript(backlogLua + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
sync_backlog(KEYS[1], KEYS[2])
return 1
`)

// claimCmd maps an idempotency key to an operation id unless it maps to
// another id; with ARGV[3] set, a mapping to that id is replaced
// (compare-and-set).
//
// KEYS[1] -> <prefix>idem:<key>
// ARGV[1] -> operation id  ARGV[2] -> ttl seconds
// ARGV[3] -> id whose mapping may be replaced, or ""
// Returns the id the key maps to after the call: ARGV[1] if it was claimed.
var claimCmd = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[3] then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
`)

// releaseCmd deletes an idempotency key's mapping if it still maps to the
// given operation (compare-and-delete).
//
// KEYS[1] -> <prefix>idem:<key>
// ARGV[1] -> operation id
// Returns 1 if the mapping was deleted, else 0.
var releaseCmd = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)

// Get returns the operation with the given id.
func (s *RedisOperations) Get(ctx context.Context, id string) (*Operation, error) {
	m, err := s.c.HGetAll(ctx, s.opKey(id)).Result()
	if err != nil {
		return nil, wrapRedis("get operation "+id, err)
	}
	op, err := decodeOp(id, m)
	if err != nil {
		return nil, err
	}
	if op == nil {
		return nil, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	}
	return op, nil
}

// decodeOp builds an operation from its hash. It returns nil, nil for a
// hash that does not exist (or lacks the request: written by nothing but
// createCmd, an operation always has it).
func decodeOp(id string, m map[string]string) (*Operation, error) {
	if len(m) == 0 || m[fRequest] == "" {
		return nil, nil
	}
	op := &Operation{
		ID:             id,
		Name:           m[fName],
		APIVersion:     m[fVersion],
		State:          State(atoi(m[fState])),
		CreateTime:     time.Unix(0, atoi64(m[fCreate])).UTC(),
		UpdateTime:     time.Unix(0, atoi64(m[fUpdate])).UTC(),
		Done:           m[fDone] == "1",
		ErrorCode:      int32(atoi(m[fErrCode])),
		ErrorMessage:   m[fErrMsg],
		PagesDone:      atoi(m[fPagesDone]),
		PagesTotal:     atoi(m[fPagesTotal]),
		IdempotencyKey: m[fIdemKey],
		Owner:          m[fOwner],
	}
	if ns := atoi64(m[fStart]); ns != 0 {
		op.StartTime = time.Unix(0, ns).UTC()
	}
	var req proto.Message
	if m[fKind] == kindImages {
		op.Images = &visionpb.AsyncBatchAnnotateImagesRequest{}
		req = op.Images
	} else {
		op.Request = &visionpb.AsyncBatchAnnotateFilesRequest{}
		req = op.Request
	}
	if err := proto.Unmarshal([]byte(m[fRequest]), req); err != nil {
		return nil, fmt.Errorf("store: operation %s: decode request: %w", id, err)
	}
	return op, nil
}

// fetch returns the operations with the given ids, in order, with one
// pipelined HGETALL; an operation that does not exist is nil. The same
// round trip removes the ids in unindex from the index key index.
func (s *RedisOperations) fetch(ctx context.Context, index string, ids, unindex []string) ([]*Operation, error) {
	if len(ids) == 0 && len(unindex) == 0 {
		return nil, nil
	}
	hashes := make([]*redis.MapStringStringCmd, len(ids))
	cmds, _ := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			hashes[i] = p.HGetAll(ctx, s.opKey(id))
		}
		if len(unindex) > 0 {
			p.ZRem(ctx, index, toAny(unindex)...)
		}
		return nil
	})
	if err := pipeErr(cmds); err != nil {
		return nil, wrapRedis("get operations", err)
	}
	ops := make([]*Operation, len(ids))
	for i, id := range ids {
		op, err := decodeOp(id, hashes[i].Val())
		if err != nil {
			return nil, err
		}
		ops[i] = op
	}
	return ops, nil
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

// RangeDone reports whether range r is complete or the operation
// finished, in one round trip.
func (s *RedisOperations) RangeDone(ctx context.Context, id string, r Range) (bool, error) {
	var done *redis.StringCmd
	var complete *redis.BoolCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		done = p.HGet(ctx, s.opKey(id), fDone)
		complete = p.SIsMember(ctx, s.doneKey(id), rangeMember(r))
		return nil
	})
	if errors.Is(done.Err(), redis.Nil) {
		return false, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return false, wrapRedis("get range "+rangeMember(r)+" of "+id, err)
	}
	return done.Val() == "1" || complete.Val(), nil
}

// Listing defaults and bounds.
const (
	// defaultPageSize is List's page size when pageSize is not positive.
	defaultPageSize = 100
	// A filtered List examines at most max(listScanPerPage*pageSize,
	// listScanMin) index entries per call.
	listScanPerPage = 10
	listScanMin     = 1000
)

// indexEntry is one member of the index: an operation id and its creation
// time in unix microseconds, the member's score.
type indexEntry struct {
	score int64
	id    string
}

// token encodes e as a page token: the cursor just past e.
func (e indexEntry) token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(e.score, 10) + ":" + e.id))
}

// parseToken decodes a page token; "" is the start, a nil entry.
func parseToken(token string) (*indexEntry, error) {
	if token == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	score, id, ok := strings.Cut(string(b), ":")
	n, perr := strconv.ParseInt(score, 10, 64)
	if err != nil || !ok || perr != nil || id == "" {
		return nil, fmt.Errorf("store: list operations: page token %q: %w", token, ErrInvalidArgument)
	}
	return &indexEntry{score: n, id: id}, nil
}

// List returns up to pageSize (default 100) operations that f selects,
// newest first. The page token is a cursor, the creation time and id of the
// last index entry examined, so operations created while a client pages do
// not shift the pages. Entries whose operation expired are dropped from the
// index as they are met.
//
// A call costs at most three round trips, whatever pageSize and however
// many operations f skips (TestListRoundTrips counts them):
//
//  1. the next index entries after the cursor: pageSize of them without a
//     filter of done or state, else up to max(10*pageSize, 1000); with an
//     owner, of that key's own index, so its pages and tokens never touch
//     other keys' operations;
//  2. without a filter, one pipelined HGETALL of those operations; with
//     one, a pipelined HMGET of the fields f needs (state, done, error
//     code) of every entry, walked until pageSize match;
//  3. with a filter, one pipelined HGETALL of the matches plus a ZREM of
//     the stale entries met, skipped when there are neither; without one,
//     a ZREM only when stale entries were met.
//
// An unfiltered list of live operations costs two. Reading states in step
// 2 and whole operations in step 3, rather than whole operations at once,
// keeps a selective filter from fetching requests it then drops, and no
// script reads operation hashes while walking the index: they live in
// other Cluster slots than the index.
func (s *RedisOperations) List(ctx context.Context, pageSize int, pageToken string, f ListFilter) ([]*Operation, string, error) {
	if pageSize <= 0 {
		pageSize = defaultPageSize
	}
	after, err := parseToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	index := s.indexKey()
	if f.Owner != "" {
		index = s.ownerIndexKey(f.Owner)
	}
	scan := pageSize
	if f.Done != nil || len(f.States) > 0 {
		scan = max(listScanPerPage*pageSize, listScanMin)
	}
	entries, more, err := s.window(ctx, index, after, scan)
	if err != nil {
		return nil, "", err
	}
	if f.IsZero() {
		return s.listAll(ctx, index, entries, more)
	}
	return s.listFiltered(ctx, index, entries, more, pageSize, f)
}

// window returns up to n index entries after the cursor after (nil: from
// the newest), newest first, in one round trip, and whether more follow.
// Entries with the cursor's score come in reverse id order; those up to
// and including the cursor's id were seen.
func (s *RedisOperations) window(ctx context.Context, index string, after *indexEntry, n int) ([]indexEntry, bool, error) {
	var ties, older *redis.ZSliceCmd
	maxScore := "+inf"
	cmds, _ := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if after != nil {
			sc := strconv.FormatInt(after.score, 10)
			ties = p.ZRevRangeByScoreWithScores(ctx, index, &redis.ZRangeBy{Max: sc, Min: sc})
			maxScore = "(" + sc
		}
		older = p.ZRevRangeByScoreWithScores(ctx, index, &redis.ZRangeBy{
			Max: maxScore, Min: "-inf", Count: int64(n + 1),
		})
		return nil
	})
	if err := pipeErr(cmds); err != nil {
		return nil, false, wrapRedis("list operations", err)
	}
	var es []indexEntry
	if ties != nil {
		for _, z := range ties.Val() {
			if id := z.Member.(string); id < after.id {
				es = append(es, indexEntry{score: int64(z.Score), id: id})
			}
		}
	}
	for _, z := range older.Val() {
		es = append(es, indexEntry{score: int64(z.Score), id: z.Member.(string)})
	}
	if len(es) > n {
		return es[:n], true, nil
	}
	return es, false, nil
}

// listAll is List without a filter: the operations of entries.
func (s *RedisOperations) listAll(ctx context.Context, index string, entries []indexEntry, more bool) ([]*Operation, string, error) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.id
	}
	got, err := s.fetch(ctx, index, ids, nil)
	if err != nil {
		return nil, "", err
	}
	ops := make([]*Operation, 0, len(got))
	var stale []string
	for i, op := range got {
		if op == nil {
			stale = append(stale, ids[i])
			continue
		}
		ops = append(ops, op)
	}
	if len(stale) > 0 {
		// Best effort: the page is right either way, and the next List
		// that meets these entries drops them.
		_ = s.c.ZRem(ctx, index, toAny(stale)...).Err()
	}
	next := ""
	if more {
		next = entries[len(entries)-1].token()
	}
	return ops, next, nil
}

// listFiltered is List with a filter: it reads the fields f needs of every
// entry, then the operations of up to pageSize matches.
func (s *RedisOperations) listFiltered(ctx context.Context, index string, entries []indexEntry, more bool, pageSize int, f ListFilter) ([]*Operation, string, error) {
	fields := make([]*redis.SliceCmd, len(entries))
	cmds, _ := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range entries {
			fields[i] = p.HMGet(ctx, s.opKey(e.id), fState, fDone, fErrCode, fOwner)
		}
		return nil
	})
	if err := pipeErr(cmds); err != nil {
		return nil, "", wrapRedis("list operations", err)
	}
	var matches, stale []string
	next := ""
	if more && len(entries) > 0 {
		next = entries[len(entries)-1].token()
	}
	for i, e := range entries {
		v := fields[i].Val()
		state, sok := v[0].(string)
		done, dok := v[1].(string)
		if !sok && !dok {
			stale = append(stale, e.id)
			continue
		}
		code, _ := v[2].(string)
		owner, _ := v[3].(string)
		if !f.Match(&Operation{State: State(atoi(state)), Done: done == "1", ErrorCode: int32(atoi(code)), Owner: owner}) {
			continue
		}
		if len(matches) == pageSize {
			// A match beyond the page: the next page starts with it.
			next = entries[i-1].token()
			break
		}
		matches = append(matches, e.id)
	}
	got, err := s.fetch(ctx, index, matches, stale)
	if err != nil {
		return nil, "", err
	}
	ops := make([]*Operation, 0, len(got))
	for _, op := range got {
		// An operation may have changed or gone since its fields were read.
		if op != nil && f.Match(op) {
			ops = append(ops, op)
		}
	}
	return ops, next, nil
}

// Created returns the operations created between from and to that are
// still in state CREATED, oldest first, in three round trips: the index,
// the states, the operations.
func (s *RedisOperations) Created(ctx context.Context, from, to time.Time) ([]*Operation, error) {
	return s.createdWhere(ctx, "list created operations", from, to, func(state State, _ bool) bool {
		return state == visionpb.OperationMetadata_CREATED
	})
}

// Unfinished returns the operations created between from and to that have
// not finished, oldest first, in three round trips.
func (s *RedisOperations) Unfinished(ctx context.Context, from, to time.Time) ([]*Operation, error) {
	return s.createdWhere(ctx, "list unfinished operations", from, to, func(_ State, done bool) bool { return !done })
}

// createdWhere returns the operations created between from and to whose
// state and done flag keep accepts, oldest first: the index, then the
// state of each (most operations in a window are rejected by it), then the
// operations kept, read whole and checked again.
func (s *RedisOperations) createdWhere(ctx context.Context, what string, from, to time.Time, keep func(state State, done bool) bool) ([]*Operation, error) {
	ids, err := s.c.ZRangeByScore(ctx, s.indexKey(), &redis.ZRangeBy{
		Min: strconv.FormatInt(from.UnixMicro(), 10), Max: strconv.FormatInt(to.UnixMicro(), 10),
	}).Result()
	if err != nil {
		return nil, wrapRedis(what, err)
	}
	states := make([]*redis.SliceCmd, len(ids))
	cmds, _ := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			states[i] = p.HMGet(ctx, s.opKey(id), fState, fDone)
		}
		return nil
	})
	if err := pipeErr(cmds); err != nil {
		return nil, wrapRedis(what, err)
	}
	var kept []string
	for i, id := range ids {
		v := states[i].Val()
		st, ok := v[0].(string)
		if !ok { // expired or deleted since the index was read
			continue
		}
		done, _ := v[1].(string)
		if keep(State(atoi(st)), done == "1") {
			kept = append(kept, id)
		}
	}
	got, err := s.fetch(ctx, s.indexKey(), kept, nil)
	if err != nil {
		return nil, err
	}
	var ops []*Operation
	for _, op := range got {
		if op != nil && keep(op.State, op.Done) {
			ops = append(ops, op)
		}
	}
	return ops, nil
}

// planFileCmd records the ranges of one file once and moves the operation
// to RUNNING, noting when (stime).
//
// KEYS[1] -> <prefix>op:{<id>}          KEYS[2] -> ...:planned
// KEYS[3] -> <prefix>op:{<id>}:ranges   KEYS[4] -> ...:done
// KEYS[5] -> its backlog key (backlogKey): the file's pages start counting
// ARGV[1] -> file index  ARGV[2] -> now (unix ns)  ARGV[3] -> ttl seconds
// ARGV[4] -> pages in the file  ARGV[5] -> state CREATED  ARGV[6] -> state RUNNING
// ARGV[7..] -> range members "file:first-last"
// Returns -1 if the operation is missing, 2 if it is finished, else 0.
var planFileCmd = redis.NewScript(backlogLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'done') == '1' then return 2 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  for i = 7, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
  redis.call('HINCRBY', KEYS[1], 'pages_total', ARGV[4])
  redis.call('HSET', KEYS[1], 'files_planned', redis.call('SCARD', KEYS[2]))
end
if redis.call('HGET', KEYS[1], 'state') == ARGV[5] then
  redis.call('HSET', KEYS[1], 'state', ARGV[6], 'stime', ARGV[2])
end
redis.call('HSET', KEYS[1], 'utime', ARGV[2])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
sync_backlog(KEYS[1], KEYS[5])
return 0
`)

// completeRangeCmd records one finished range and its failed pages, and
// drops its saved units; the call that records the last range of the last file
// finalizes the operation. The failed pages are a field per range, set
// (not added to) each time, so a range recorded twice counts once.
//
// KEYS[1..5] as planFileCmd (the range's pages, or all that remain if it
// finalizes, stop counting in the backlog)
// KEYS[6..] -> the range's partKeys: <prefix>op:{<id>}:units:<member>, then
// <prefix>op:{<id>}:part:<member>:<page> for every page of the range
// ARGV[1] -> range member  ARGV[2] -> now (unix ns)  ARGV[3] -> ttl seconds
// ARGV[4] -> pages in the range  ARGV[5] -> state DONE
// ARGV[6] -> the range's failed-pages field, "failed:<member>"
// ARGV[7] -> failed pages (0 deletes the field)
// Returns -1 if the operation is missing, -2 if the range was never
// planned, 2 if the operation is already finished, 1 if this call
// finalized it, else 0.
var completeRangeCmd = redis.NewScript(delKeysLua + backlogLua + finalizeLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'done') == '1' then return 2 end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return -2 end
if redis.call('SADD', KEYS[4], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'pages_done', ARGV[4])
end
if tonumber(ARGV[7]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[6], ARGV[7])
else
  redis.call('HDEL', KEYS[1], ARGV[6])
end
del_keys(6)
redis.call('HSET', KEYS[1], 'utime', ARGV[2])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return finalize_if_complete(ARGV[5])
`)

// failFileCmd records a file that failed as a whole (FailFile): the file
// becomes planned if it was not (with no ranges, so no pages), the given
// ranges not yet done become done with all their pages failed, the file's
// error is recorded, and the operation finalizes if that was the last
// work, as in completeRangeCmd.
//
// KEYS[1..5] as planFileCmd
// KEYS[6..] -> the partKeys of the ranges in ARGV[10..]
// ARGV[1] -> file index  ARGV[2] -> now (unix ns)  ARGV[3] -> ttl seconds
// ARGV[4] -> state CREATED  ARGV[5] -> state RUNNING  ARGV[6] -> state DONE
// ARGV[7] -> google.rpc code  ARGV[8] -> message
// ARGV[9] -> "range" (fail the one range ARGV[10]) or "file" (ARGV[10..]
// are all the file's ranges when KEYS were built)
// ARGV[10..] -> range members "file:first-last"
// Returns -1 if the operation is missing, -2 if the range was never
// planned, -3 if the file's ranges changed since KEYS were built (nothing
// changed: build them again), 2 if the operation is already finished, 1 if
// this call finalized it, else 0.
var failFileCmd = redis.NewScript(delKeysLua + backlogLua + finalizeLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'done') == '1' then return 2 end
if ARGV[9] == 'range' then
  if redis.call('SISMEMBER', KEYS[3], ARGV[10]) == 0 then return -2 end
else
  local prefix = ARGV[1] .. ':'
  local n = 0
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    if string.sub(m, 1, #prefix) == prefix then n = n + 1 end
  end
  if n ~= #ARGV - 9 then return -3 end
end
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'files_planned', redis.call('SCARD', KEYS[2]))
end
for i = 10, #ARGV do
  if redis.call('SADD', KEYS[4], ARGV[i]) == 1 then
    local a, b = string.match(ARGV[i], ':(%d+)-(%d+)$')
    local pages = tonumber(b) - tonumber(a) + 1
    redis.call('HINCRBY', KEYS[1], 'pages_done', pages)
    redis.call('HSET', KEYS[1], 'failed:' .. ARGV[i], pages)
  end
end
del_keys(6)
redis.call('HSET', KEYS[1], 'ferr:' .. ARGV[1], ARGV[7], 'femsg:' .. ARGV[1], ARGV[8])
if redis.call('HGET', KEYS[1], 'state') == ARGV[4] then
  redis.call('HSET', KEYS[1], 'state', ARGV[5], 'stime', ARGV[2])
end
redis.call('HSET', KEYS[1], 'utime', ARGV[2])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return finalize_if_complete(ARGV[6])
`)

// finishCmd ends an unfinished operation with an error and drops the saved
// units of all its ranges.
//
// KEYS[1..5] as planFileCmd (what remained stops counting in the backlog)
// KEYS[6..] -> the partKeys of every range in KEYS[3] when they were read
// ARGV[1] -> state  ARGV[2] -> google.rpc code  ARGV[3] -> message
// ARGV[4] -> now (unix ns)  ARGV[5] -> ttl seconds
// ARGV[6] -> number of ranges KEYS[6..] were built from
// Returns -1 if the operation is missing, -3 if ranges were planned since
// KEYS were built (nothing changed: build them again), 1 if this call ended
// the operation, else 0.
var finishCmd = redis.NewScript(delKeysLua + backlogLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'done') == '1' then return 0 end
if redis.call('SCARD', KEYS[3]) ~= tonumber(ARGV[6]) then return -3 end
redis.call('HSET', KEYS[1], 'done', 1, 'state', ARGV[1], 'ecode', ARGV[2], 'emsg', ARGV[3], 'utime', ARGV[4])
sync_backlog(KEYS[1], KEYS[5])
del_keys(6)
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return 1
`)

// finalizeLua defines finalize_if_complete(done_state), which a script
// that records finished work calls last, with the operation's keys as
// planFileCmd declares them (KEYS[1..5]): once every file is planned and
// every planned range is done, it marks the operation done in done_state.
// It syncs the backlog and returns 1 if it finished the operation (exactly
// once: a finished operation's scripts return before calling it), else 0.
const finalizeLua = `
local function finalize_if_complete(done_state)
  local files = tonumber(redis.call('HGET', KEYS[1], 'files'))
  if redis.call('SCARD', KEYS[2]) >= files and redis.call('SCARD', KEYS[4]) >= redis.call('SCARD', KEYS[3]) then
    redis.call('HSET', KEYS[1], 'done', 1, 'state', done_state)
    sync_backlog(KEYS[1], KEYS[5])
    return 1
  end
  sync_backlog(KEYS[1], KEYS[5])
  return 0
end
`

// delKeysLua defines del_keys(first), which deletes KEYS[first..], a
// thousand at a time (unpack's stack is limited).
const delKeysLua = `
local function del_keys(first)
  for i = first, #KEYS, 1000 do
    redis.call('DEL', unpack(KEYS, i, math.min(i + 999, #KEYS)))
  end
end
`

// PlanFile records the ranges of one file and moves the operation to
// RUNNING. Repeating it for the same file changes nothing.
func (s *RedisOperations) PlanFile(ctx context.Context, id string, file int, ranges []Range) (Completion, error) {
	args := []any{file, time.Now().UnixNano(), int64(s.ttl / time.Second), 0,
		int32(visionpb.OperationMetadata_CREATED), int32(visionpb.OperationMetadata_RUNNING)}
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

// CompleteRange records r as finished with failedPages pages written as
// errors. It is idempotent (a repeat replaces the failed pages); the call
// that finishes the operation's last range returns Finalized, exactly once.
func (s *RedisOperations) CompleteRange(ctx context.Context, id string, r Range, failedPages int) (Completion, error) {
	m := rangeMember(r)
	if failedPages < 0 || failedPages > r.Last-r.First+1 {
		return 0, fmt.Errorf("store: complete range %s of %s: %d failed pages: %w", m, id, failedPages, ErrInvalidArgument)
	}
	keys := append(s.keys(id), s.partKeys(id, m, r.First, r.Last)...)
	n, err := completeRangeCmd.Run(ctx, s.c, keys,
		m, time.Now().UnixNano(), int64(s.ttl/time.Second), r.Last-r.First+1,
		int32(visionpb.OperationMetadata_DONE), failedPrefix+m, failedPages).Int()
	if err != nil {
		return 0, wrapRedis(fmt.Sprintf("complete range %s of %s", m, id), err)
	}
	switch n {
	case -1:
		return 0, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	case -2:
		return 0, fmt.Errorf("store: operation %s: range %s was never planned", id, m)
	case 1:
		return Finalized, nil
	case 2:
		return AlreadyFinished, nil
	}
	return Recorded, nil
}

// FailFile records that file failed as a whole (or, with r set, range r of
// it) and completes its unfinished ranges as failed pages; see
// Operations.FailFile. A whole-file call reads the file's ranges first, so
// that the script can declare their part keys, and tries again if the file
// was planned meanwhile.
func (s *RedisOperations) FailFile(ctx context.Context, id string, file int, r Range, code int32, message string) (Completion, error) {
	what := fmt.Sprintf("fail file %d of %s", file, id)
	if r != (Range{}) && (r.File != file || r.First < 1 || r.Last < r.First) {
		return 0, fmt.Errorf("store: %s: range %+v: %w", what, r, ErrInvalidArgument)
	}
	for range maxAttempts {
		mode, members := "range", []string{rangeMember(r)}
		if r == (Range{}) {
			all, err := s.c.SMembers(ctx, s.rangesKey(id)).Result()
			if err != nil {
				return 0, wrapRedis(what, err)
			}
			mode, members = "file", nil
			prefix := strconv.Itoa(file) + ":"
			for _, m := range all {
				if strings.HasPrefix(m, prefix) {
					members = append(members, m)
				}
			}
		}
		keys := append(s.keys(id), s.allPartKeys(id, members)...)
		args := []any{file, time.Now().UnixNano(), int64(s.ttl / time.Second),
			int32(visionpb.OperationMetadata_CREATED), int32(visionpb.OperationMetadata_RUNNING),
			int32(visionpb.OperationMetadata_DONE), code, message, mode}
		args = append(args, toAny(members)...)
		n, err := failFileCmd.Run(ctx, s.c, keys, args...).Int()
		if err != nil {
			return 0, wrapRedis(what, err)
		}
		switch n {
		case -1:
			return 0, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
		case -2:
			return 0, fmt.Errorf("store: %s: range %s was never planned: %w", what, members[0], ErrInvalidArgument)
		case -3:
			continue // the file was planned meanwhile
		case 1:
			return Finalized, nil
		case 2:
			return AlreadyFinished, nil
		}
		return Recorded, nil
	}
	return 0, fmt.Errorf("store: %s: its ranges changed %d times: %w", what, maxAttempts, ErrUnavailable)
}

// Fail ends the operation with a google.rpc code and message unless it has
// already ended.
func (s *RedisOperations) Fail(ctx context.Context, id string, code int32, message string) (bool, error) {
	return s.finish(ctx, id, visionpb.OperationMetadata_DONE, code, message)
}

// Cancel ends an unfinished operation as CANCELLED with error code 1.
func (s *RedisOperations) Cancel(ctx context.Context, id string) (bool, error) {
	return s.finish(ctx, id, visionpb.OperationMetadata_CANCELLED, 1, CancelledMessage)
}

// finish runs finishCmd: one round trip reads whether the operation is done
// and its ranges, a second ends it and drops the parts of those ranges,
// whose keys it declares.
func (s *RedisOperations) finish(ctx context.Context, id string, state State, code int32, message string) (bool, error) {
	for range maxAttempts {
		var done *redis.StringCmd
		var ranges *redis.StringSliceCmd
		cmds, _ := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			done = p.HGet(ctx, s.opKey(id), fDone)
			ranges = p.SMembers(ctx, s.rangesKey(id))
			return nil
		})
		if err := pipeErr(cmds); err != nil {
			return false, wrapRedis("finish operation "+id, err)
		}
		if errors.Is(done.Err(), redis.Nil) {
			return false, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
		}
		if done.Val() == "1" {
			return false, nil
		}
		keys := append(s.keys(id), s.allPartKeys(id, ranges.Val())...)
		n, err := finishCmd.Run(ctx, s.c, keys,
			int32(state), code, message, time.Now().UnixNano(), int64(s.ttl/time.Second), len(ranges.Val())).Int()
		if err != nil {
			return false, wrapRedis("finish operation "+id, err)
		}
		switch n {
		case -1:
			return false, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
		case -3:
			continue // a file was planned meanwhile
		}
		return n == 1, nil
	}
	return false, fmt.Errorf("store: finish operation %s: its ranges changed %d times: %w", id, maxAttempts, ErrUnavailable)
}

// Delete removes every key of the operation, its index entry and its
// idempotency key's mapping, in two round trips. The first deletes the
// hash, which freezes the operation (the scripts that add ranges and parts
// find it missing), and then reads its ranges; the second deletes the rest.
func (s *RedisOperations) Delete(ctx context.Context, id string) error {
	var key, owner *redis.StringCmd
	var del *redis.Cmd
	var ranges *redis.StringSliceCmd
	cmds, _ := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		key = p.HGet(ctx, s.opKey(id), fIdemKey)
		owner = p.HGet(ctx, s.opKey(id), fOwner)
		// deleteCmd takes the operation out of the backlog as it deletes
		// the hash.
		del = deleteCmd.Eval(ctx, p, []string{s.opKey(id), s.backlogKey(id)})
		ranges = p.SMembers(ctx, s.rangesKey(id))
		return nil
	})
	if err := pipeErr(cmds); err != nil {
		return wrapRedis("delete operation "+id, err)
	}
	keys := append([]string{s.plannedKey(id), s.rangesKey(id), s.doneKey(id)}, s.allPartKeys(id, ranges.Val())...)
	cmds, _ = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keys...)
		p.ZRem(ctx, s.indexKey(), id)
		if o := owner.Val(); o != "" {
			p.ZRem(ctx, s.ownerIndexKey(o), id)
		}
		if k := key.Val(); k != "" {
			releaseCmd.Eval(ctx, p, []string{s.idemKey(k)}, id) // EVALSHA cannot fall back inside a pipeline
		}
		return nil
	})
	if err := pipeErr(cmds); err != nil {
		return wrapRedis("delete operation "+id, err)
	}
	if n, _ := del.Int(); n == 0 {
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

// pipeErr returns the first error of a pipeline's commands other than
// redis.Nil, which only says a key or field is missing.
func pipeErr(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// savePartCmd stores one unit of a range and counts the range's units.
//
// KEYS[1] -> <prefix>op:{<id>}
// KEYS[2] -> <prefix>op:{<id>}:units:<member>       set of the range's saved units
// KEYS[3] -> <prefix>op:{<id>}:part:<member>:<unit>  the unit's data
// ARGV[1] -> unit (first page)  ARGV[2] -> data  ARGV[3] -> ttl seconds
// Returns -1 if the operation is missing, -2 if it is finished, else the
// number of distinct units of the range saved.
var savePartCmd = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'done') == '1' then return -2 end
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return redis.call('SCARD', KEYS[2])
`)

// SavePart stores data, the output of the unit of range r that starts at
// page unit, and returns how many distinct units of r are saved. Saving a
// unit again replaces it and counts once. It reports AlreadyFinished (and
// saves nothing) when the operation is finished.
func (s *RedisOperations) SavePart(ctx context.Context, id string, r Range, unit int, data []byte) (int, Completion, error) {
	m := rangeMember(r)
	n, err := savePartCmd.Run(ctx, s.c, []string{s.opKey(id), s.unitsKey(id, m), s.partKey(id, m, unit)},
		unit, data, int64(s.ttl/time.Second)).Int()
	if err != nil {
		return 0, 0, wrapRedis(fmt.Sprintf("save unit %d of range %s of %s", unit, m, id), err)
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
	m := rangeMember(r)
	b, err := s.c.Get(ctx, s.partKey(id, m, unit)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: unit %d of range %s of %s: %w", unit, m, id, ErrNotFound)
	}
	if err != nil {
		return nil, wrapRedis(fmt.Sprintf("read unit %d of range %s of %s", unit, m, id), err)
	}
	return b, nil
}
