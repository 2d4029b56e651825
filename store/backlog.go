package store

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Backlog is the work held by the operations that have not finished: the
// autoscaling signal of a worker fleet. It is kept exact by the scripts
// that change operations (see backlogLua), so reading it costs one HGETALL
// (a pipeline of one per hash slot on Redis Cluster), whatever the number
// of operations.
type Backlog struct {
	// PagesPending is the number of pages planned but not yet completed,
	// summed over unfinished operations (an images operation's pages are
	// its images), plus one for each file of a RUNNING operation not yet
	// planned (its page count is unknown until a worker opens it; without
	// it, an operation whose other files are done would count nothing, and
	// an autoscaler could take every worker away while its plan task waits
	// for a retry). A range stops counting when it completes; an operation
	// that fails, is cancelled or is deleted stops counting at once.
	PagesPending int64
	// Operations counts the unfinished operations by state: CREATED (not
	// planned yet: its plan tasks wait for a worker) and RUNNING.
	// Finished operations are not counted: they leave Redis when their
	// keys expire, which no script sees.
	Operations map[State]int64
}

// Backlog returns the work of the unfinished operations.
func (s *RedisOperations) Backlog(ctx context.Context) (Backlog, error) {
	b := Backlog{Operations: map[State]int64{}}
	keys := s.backlogKeys()
	hashes := make([]*redis.MapStringStringCmd, len(keys))
	cmds, _ := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			hashes[i] = p.HGetAll(ctx, k)
		}
		return nil
	})
	if err := pipeErr(cmds); err != nil {
		return Backlog{}, wrapRedis("read backlog", err)
	}
	for _, h := range hashes {
		for f, v := range h.Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			if f == bPages {
				b.PagesPending += n
			} else if st, ok := strings.CutPrefix(f, bOpsPrefix); ok {
				b.Operations[State(atoi(st))] += n
			}
		}
	}
	maps.DeleteFunc(b.Operations, func(_ State, n int64) bool { return n == 0 })
	return b, nil
}

// Fields of a backlog hash, and of an operation's hash recording what the
// operation adds to it.
const (
	bPages     = "pages_pending" // backlog: pages planned, not completed
	bOpsPrefix = "ops:"          // backlog: "ops:<state number>" = unfinished operations in that state
	// bOwnerPrefix starts the backlog's field of one API key's pending
	// pages, "owner:<name>" (see OwnerPagesPending); the operation's hash
	// records its contribution in "bl_owner".
	bOwnerPrefix = "owner:"
	fBPages      = "bl_pages" // operation: what it adds to pages_pending
	fBState      = "bl_state" // operation: the ops:<state> field it adds 1 to
)

// OwnerPagesPending returns the pages of the unfinished operations of API
// key owner: pages planned and not completed, plus one for each file not
// yet planned (counted from the moment the operation is created, so that a
// burst of submissions counts before any is planned). It is kept exactly,
// as PagesPending is, in the backlog hash's field "owner:<name>", and read
// with one HGET (one per hash slot on Redis Cluster).
func (s *RedisOperations) OwnerPagesPending(ctx context.Context, owner string) (int64, error) {
	keys := s.backlogKeys()
	vals := make([]*redis.StringCmd, len(keys))
	cmds, _ := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			vals[i] = p.HGet(ctx, k, bOwnerPrefix+owner)
		}
		return nil
	})
	if err := pipeErr(cmds); err != nil {
		return 0, wrapRedis("read pages in flight of "+owner, err)
	}
	var n int64
	for _, v := range vals {
		x, _ := v.Int64()
		n += x
	}
	return n, nil
}

// backlogLua defines sync_backlog(op, backlog), which every script that
// changes an operation calls after the change. The operation's hash
// records what it adds to the backlog (bl_pages, bl_state); sync_backlog
// computes what it should add now (while not done: pages_total -
// pages_done, plus files - files_planned once RUNNING, and its state;
// nothing once done), applies the difference to the
// backlog hash and records the new contribution, in the same script. So the
// backlog is always the sum of the contributions recorded in the
// operations' hashes, and exact by construction: a redelivered completion,
// a second plan of a file, a Fail after Cancel change pages_total,
// pages_done or done by nothing and so add nothing; Delete subtracts the
// recorded contribution as it deletes the hash (deleteCmd). An operation
// written by a Folio without the backlog (no bl_ fields) is counted from
// the first script that changes it.
//
// bump(backlog, field, delta) adds delta to a field and deletes the field
// when it reaches zero, so an idle system leaves no backlog keys.
const backlogLua = `
local function bump(backlog, field, delta)
  if delta ~= 0 and redis.call('HINCRBY', backlog, field, delta) == 0 then
    redis.call('HDEL', backlog, field)
  end
end
local function sync_backlog(op, backlog)
  local v = redis.call('HMGET', op, 'done', 'state', 'pages_total', 'pages_done', 'bl_pages', 'bl_state', 'files', 'files_planned', 'owner', 'bl_owner')
  local pages, state = 0, false
  if v[1] ~= '1' then
    pages = (tonumber(v[3]) or 0) - (tonumber(v[4]) or 0)
    state = v[2]
    if v[8] then
      pages = pages + math.max(0, (tonumber(v[7]) or 0) - tonumber(v[8]))
    end
  end
  local counted = tonumber(v[5]) or 0
  if pages ~= counted then
    bump(backlog, 'pages_pending', pages - counted)
    if pages == 0 then redis.call('HDEL', op, 'bl_pages') else redis.call('HSET', op, 'bl_pages', pages) end
  end
  if state ~= v[6] then
    if v[6] then bump(backlog, 'ops:' .. v[6], -1) end
    if state then
      bump(backlog, 'ops:' .. state, 1)
      redis.call('HSET', op, 'bl_state', state)
    else
      redis.call('HDEL', op, 'bl_state')
    end
  end
  if v[9] then
    local own = 0
    if v[1] ~= '1' then
      own = (tonumber(v[3]) or 0) - (tonumber(v[4]) or 0) + math.max(0, (tonumber(v[7]) or 0) - (tonumber(v[8]) or 0))
    end
    local had = tonumber(v[10]) or 0
    if own ~= had then
      bump(backlog, 'owner:' .. v[9], own - had)
      if own == 0 then redis.call('HDEL', op, 'bl_owner') else redis.call('HSET', op, 'bl_owner', own) end
    end
  end
end
`

// deleteCmd deletes an operation's hash and takes its recorded
// contribution out of the backlog, at once.
//
// KEYS[1] -> <prefix>op:{<id>}  KEYS[2] -> its backlog key (backlogKey)
// Returns 1 if the hash existed, else 0.
var deleteCmd = redis.NewScript(backlogLua + `
local v = redis.call('HMGET', KEYS[1], 'bl_pages', 'bl_state', 'owner', 'bl_owner')
bump(KEYS[2], 'pages_pending', -(tonumber(v[1]) or 0))
if v[2] then bump(KEYS[2], 'ops:' .. v[2], -1) end
if v[3] then bump(KEYS[2], 'owner:' .. v[3], -(tonumber(v[4]) or 0)) end
return redis.call('DEL', KEYS[1])
`)

// backlogKey is the backlog hash that operation id's scripts update. On a
// single Redis (or Sentinel) it is one key, <prefix>backlog, outside the
// operation's hash slot, which only Redis Cluster minds. On Cluster, where
// every key of a script must share one slot, it is one hash per slot,
// <prefix>backlog:{<tag>}, whose tag hashes to the slot of the operation's
// keys; Backlog then reads all 16384 of them in one pipeline, which
// go-redis splits by node (about 20 ms against one local Redis).
func (s *RedisOperations) backlogKey(id string) string {
	if !s.slotted {
		return s.prefix + "backlog"
	}
	return s.prefix + "backlog:{" + slotTags()[keySlot(s.opKey(id))] + "}"
}

// backlogKeys are every backlog key Backlog sums, each once.
func (s *RedisOperations) backlogKeys() []string {
	if !s.slotted {
		return []string{s.prefix + "backlog"}
	}
	s.slotKeysOnce.Do(func() {
		seen := map[string]bool{}
		for _, tag := range slotTags() {
			// A prefix with a hash tag of its own puts every key in one
			// slot: then the keys all name the same hash.
			k := s.prefix + "backlog:{" + tag + "}"
			if !seen[k] {
				seen[k] = true
				s.slotKeys = append(s.slotKeys, k)
			}
		}
	})
	return s.slotKeys
}

// clusterSlots is the number of hash slots of Redis Cluster.
const clusterSlots = 16384

// slotTags returns, for every hash slot, a short string that hashes to it:
// the base-36 numbers 0, 1, 2, ..., first come first served (about
// 170,000 of them, a few milliseconds, once).
var slotTags = sync.OnceValue(func() []string {
	tags := make([]string, clusterSlots)
	for i, filled := uint64(0), 0; filled < clusterSlots; i++ {
		tag := strconv.FormatUint(i, 36)
		if s := crc16(tag) % clusterSlots; tags[s] == "" {
			tags[s] = tag
			filled++
		}
	}
	return tags
})

// keySlot is the Redis Cluster hash slot of key: CRC16 of its hash tag
// (what lies between the first '{' and the next '}', if not empty) or of
// the whole key.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % clusterSlots)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the
// checksum of Redis Cluster's key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
