// Package store keeps Folio's long-running operation state in Redis and reads
// and writes input and output objects in Cloud Storage.
//
// # Operation state machine
//
//	CREATED ──plan first file──▶ RUNNING ──last range done──▶ DONE (response)
//	   │                            │
//	   ├── Fail ──────────────────▶ DONE with error (google.rpc code, message names the file)
//	   └── Cancel ────────────────▶ CANCELLED with error code 1
//
// Every transition out of CREATED/RUNNING happens at most once, inside a Lua
// script, so two workers finishing the last two ranges at the same instant
// finalize the operation exactly once.
//
// # Keys
//
// All keys of one operation share the {id} hash tag, so multi-key scripts work
// on Redis Cluster. With the default prefix "folio:":
//
//	folio:op:{id}                       hash    name, version, state, done, times (created,
//	                                            updated, started RUNNING), request, files,
//	                                            error, pages, idempotency key, and
//	                                            failed:<range> = failed pages of a done range,
//	                                            ferr:<file>, femsg:<file> = code and message of
//	                                            a file that failed as a whole (FailFile)
//	folio:op:{id}:planned               set     indexes of files whose ranges are recorded
//	folio:op:{id}:ranges                set     every expected range, "file:first-last"
//	folio:op:{id}:done                  set     finished ranges (idempotent under redelivery)
//	folio:op:{id}:units:<range>         set     saved units of a range split across tasks
//	folio:op:{id}:part:<range>:<unit>   string  output of one unit (named by its first page)
//	folio:ops                           zset    operation ids by creation time, unix µs (listing)
//	folio:idem:<key>                    string  id of the operation created with idempotency key <key>
//	folio:backlog                       hash    pages_pending, ops:<state> of unfinished operations
//	                                            (on Redis Cluster one per slot, folio:backlog:{<tag>})
//	folio:{running}:beats               zset    running long tasks by last heartbeat, unix ms (Running)
//	folio:{running}:tasks               hash    task id -> type, payload and queue, to queue it again
//	folio:lease:<name>                  string  the holder of a lease (Lease): the fleet's janitor
//	folio:result:{<call>}               list    the answer of a synchronous call (Results)
//
// Every key of an operation expires OperationTTL after its last write; an
// index entry is dropped when List meets it after its operation expired,
// or 2×OperationTTL after its creation. An idempotency key maps to its
// operation for OperationTTL after the operation's creation, or until
// Delete.
//
// Every key a script touches is passed in KEYS, never built inside it
// from a prefix: scripts that drop a range's parts are given the units set
// and a part key for every page of the range (a unit may start at any
// page). The index and the idempotency keys have slots of their own, so no
// script touches them together with an operation's keys: Create writes the
// index and claims the key in round trips of their own (see Create for why
// in that order), and List reads the index and the operations in separate
// round trips. Lua receives operation states as arguments, from the
// visionpb constants, and never spells a state number itself.
//
// # Progress
//
// Progress reads an operation's hash and its planned, ranges and done sets
// in one MULTI/EXEC round trip. Per file, the pages total and done are the
// sums over its ranges ("file:first-last") and done ranges; the failed
// pages are the failed:<range> fields, which CompleteRange sets (never
// adds to) for each range, so a range completed twice by a redelivered
// task counts once.
//
// # Backlog
//
// [RedisOperations.Backlog] returns the pages planned but not completed and
// the unfinished operations by state, summed over all operations in one
// read: the autoscaling signal. Every script that changes an operation
// (create, plan, complete, fail, cancel, delete) ends by syncing what the
// operation adds to the backlog hash, pages_total - pages_done and ops:<its
// state> while it is not done, nothing once done, with the contribution it
// last added, recorded in its own hash (bl_pages, bl_state). The backlog is
// therefore the sum of the recorded contributions, exact under redelivery
// and races, and an operation that an older Folio wrote is counted from its
// first change. Two things it cannot see: an unfinished operation whose keys
// expire (OperationTTL without a change) stays counted, and so does one
// that a worker without the backlog finished after a newer one counted it
// (a rolling upgrade).
//
// The backlog hash is outside the operations' slots, which only Redis
// Cluster minds; on a Cluster client the store keeps one backlog hash per
// hash slot, folio:backlog:{<tag>} with a tag that hashes to the slot of the
// operation's keys, so every script still touches one slot, and Backlog
// reads the 16384 hashes in one pipeline.
//
// # Errors
//
// Unknown operations and missing objects return errors wrapping [ErrNotFound];
// objects the server may not read or write wrap [ErrPermissionDenied]. Create
// returns an error wrapping [ErrAlreadyExists] when the id is taken (retry
// with a fresh id), and a [*DuplicateError] naming the existing operation when
// the idempotency key is (the request was already accepted); the two never
// match each other. An invalid page token wraps [ErrInvalidArgument]. No
// go-redis or Cloud Storage type leaves the package.
package store
