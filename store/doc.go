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
//	folio:op:{id}          hash   name, version, state, times, request, files, error
//	folio:op:{id}:planned  set    indexes of files whose ranges are recorded
//	folio:op:{id}:ranges   set    every expected range, "file:first-last"
//	folio:op:{id}:done     set    finished ranges (idempotent under redelivery)
//	folio:ops              zset   operation ids by creation time (listing)
//
// Every key of an operation expires OperationTTL after its last write.
//
// # Errors
//
// Unknown operations and missing objects return errors wrapping [ErrNotFound];
// objects the server may not read or write wrap [ErrPermissionDenied]. No
// go-redis or Cloud Storage type leaves the package.
package store
