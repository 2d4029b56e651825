package store

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/rpcerr"
)

// Sentinel errors, with their google.rpc codes; implementations wrap them
// with context.
var (
	ErrNotFound         = rpcerr.Sentinel(codes.NotFound, "store: not found")
	ErrAlreadyExists    = rpcerr.Sentinel(codes.AlreadyExists, "store: already exists")
	ErrPermissionDenied = rpcerr.Sentinel(codes.PermissionDenied, "store: permission denied")
	ErrUnavailable      = rpcerr.Sentinel(codes.Unavailable, "store: unavailable")
	ErrInvalidArgument  = rpcerr.Sentinel(codes.InvalidArgument, "store: invalid argument")
)

// DefaultPrefix starts every key of a store whose prefix is not set
// (REDIS_KEY_PREFIX).
const DefaultPrefix = "folio:"

// CancelledMessage is Operation.error.message of a cancelled operation
// (whose error.code is 1, CANCELLED).
const CancelledMessage = "Operation was cancelled."

// State is an operation's lifecycle state; values match
// visionpb.OperationMetadata_State.
type State = visionpb.OperationMetadata_State

// Operation is one files:asyncBatchAnnotate call as the store records it.
type Operation struct {
	ID         string    // 16 hex digits, unique
	Name       string    // as returned to the client, e.g. "projects/p/operations/<id>"
	APIVersion string    // "v1" or "v1p4beta1": selects the @type names in responses
	State      State     // CREATED, RUNNING, DONE or CANCELLED
	CreateTime time.Time //
	UpdateTime time.Time //
	// Request is the validated request of files:asyncBatchAnnotate. Its
	// outputConfigs become the response.
	Request *visionpb.AsyncBatchAnnotateFilesRequest
	// Images is the validated request of images:asyncBatchAnnotate, set
	// instead of Request. Its images are one file (index 0) whose pages are
	// the images, 1-based; its outputConfig becomes the response.
	Images *visionpb.AsyncBatchAnnotateImagesRequest
	Done   bool
	// ErrorCode and ErrorMessage are set when the operation ended with an
	// error: a google.rpc code (1 for CANCELLED), never an HTTP status.
	ErrorCode    int32
	ErrorMessage string
	// PagesDone and PagesTotal count the pages of finished and planned
	// ranges; PagesTotal grows as files are planned.
	PagesDone  int
	PagesTotal int
	// StartTime is when the first file was planned and the operation moved
	// to RUNNING; zero before that.
	StartTime time.Time
	// IdempotencyKey, when not empty, makes Create record at most one
	// operation per key within the store's retention window: a Create with
	// a key an existing operation was created with returns a
	// *DuplicateError naming that operation. The caller chooses the key and
	// namespaces it (per project, per client). The store keeps it with the
	// operation, and Get returns it, but it is no part of the operation's
	// answer to clients.
	IdempotencyKey string
	// Owner is the name of the API key that created the operation, empty
	// when authentication is off. Only that key sees the operation.
	Owner string
}

// DuplicateError is returned by Create when an operation with the same idempotency key exists; ID is that operation's id.
//
// It does not match ErrAlreadyExists, which means an id clash that a fresh
// id resolves; a duplicate key means the caller's request was already
// accepted, as operation ID.
type DuplicateError struct{ Key, ID string }

// Error implements error.
func (e *DuplicateError) Error() string {
	return fmt.Sprintf("store: operation %s was already created with idempotency key %q", e.ID, e.Key)
}

// ListFilter selects operations for List. The zero value selects every operation.
type ListFilter struct {
	// Done, when non-nil, keeps only finished (true: DONE, CANCELLED or failed) or unfinished (false) operations.
	Done *bool
	// States, when not empty, keeps only operations in one of these states.
	States []State
	// Owner, when not empty, keeps only the operations of that API key.
	Owner string
}

// IsZero reports whether f selects every operation.
func (f ListFilter) IsZero() bool { return f.Done == nil && len(f.States) == 0 && f.Owner == "" }

// Match reports whether f selects op. Implementations of Operations filter
// with it, so that they all agree on what "finished" means: Done set, an
// error code, or state DONE or CANCELLED.
func (f ListFilter) Match(op *Operation) bool {
	if f.Owner != "" && op.Owner != f.Owner {
		return false
	}
	if f.Done != nil {
		finished := op.Done || op.ErrorCode != 0 ||
			op.State == visionpb.OperationMetadata_DONE || op.State == visionpb.OperationMetadata_CANCELLED
		if finished != *f.Done {
			return false
		}
	}
	return len(f.States) == 0 || slices.Contains(f.States, op.State)
}

// Range is a page range of one file of an operation; pages are 1-based and
// inclusive. File is the index of the request in the operation.
type Range struct {
	File  int
	First int
	Last  int
}

// Completion says what recording a finished range did.
type Completion int

const (
	// Recorded means the range was recorded and work remains.
	Recorded Completion = iota
	// Finalized means this call finished the operation (exactly once).
	Finalized
	// AlreadyFinished means the operation was already done, failed or
	// cancelled; nothing changed.
	AlreadyFinished
)

// Operations persists long-running operation state. Methods return errors
// wrapping ErrNotFound for unknown ids and ErrAlreadyExists on Create clashes.
type Operations interface {
	// Create records a new operation in state CREATED. It returns an error
	// wrapping ErrAlreadyExists when op.ID is taken, and a *DuplicateError
	// (recording nothing) when op.IdempotencyKey is set and an operation
	// created with that key within the retention window still exists.
	// Concurrent Creates with one key record exactly one operation.
	Create(ctx context.Context, op *Operation) error
	// Get returns the operation with the given id.
	Get(ctx context.Context, id string) (*Operation, error)
	// Finished reports whether the operation is done, failed or cancelled;
	// workers ask between pages, so it is cheaper than Get.
	Finished(ctx context.Context, id string) (bool, error)
	// List returns up to pageSize operations that f selects (see
	// ListFilter.Match), newest first, starting at pageToken ("" for the
	// first page), and the token of the next page ("" at the end). A token
	// is a cursor: operations created while a client pages do not shift the
	// pages, and a token stays valid for later calls. An implementation may
	// examine a bounded number of operations per call, so with a selective
	// filter a page may hold fewer than pageSize operations, even none,
	// while the next token is not empty. An invalid token is an error
	// wrapping ErrInvalidArgument.
	List(ctx context.Context, pageSize int, pageToken string, f ListFilter) ([]*Operation, string, error)
	// Created returns operations still in state CREATED that were created
	// between from and to: candidates for re-enqueuing when the process that
	// created them died before enqueuing their work.
	Created(ctx context.Context, from, to time.Time) ([]*Operation, error)
	// Unfinished returns the operations created between from and to that
	// have not finished (done, failed or cancelled), oldest first: the
	// janitor ends those past the operation deadline.
	Unfinished(ctx context.Context, from, to time.Time) ([]*Operation, error)
	// PlanFile records the ranges of one file and moves the operation to
	// RUNNING, setting StartTime the first time. It is idempotent. It reports AlreadyFinished when the operation
	// is done or cancelled.
	PlanFile(ctx context.Context, id string, file int, ranges []Range) (Completion, error)
	// CompleteRange records one finished range, whose output holds
	// failedPages pages whose entry carries an error (0 to the range's
	// page count; anything else is an error wrapping ErrInvalidArgument);
	// the call that finishes the last range of the last planned file
	// returns Finalized. Recording a range again replaces its failed pages
	// rather than adding to them.
	CompleteRange(ctx context.Context, id string, r Range, failedPages int) (Completion, error)
	// RangeDone reports whether range r needs no more work: it was
	// completed, or the operation is finished. Workers ask before they
	// start a range and before they commit its output, so that a range
	// queued twice (by the janitor's rescue and asynq's own retry, say) is
	// not annotated or written twice. An unknown id is an error wrapping
	// ErrNotFound.
	RangeDone(ctx context.Context, id string, r Range) (bool, error)
	// Progress returns the operation with its planned files and the state
	// of each of their ranges, read at one instant. An unknown id is an
	// error wrapping ErrNotFound.
	Progress(ctx context.Context, id string) (*Progress, error)
	// SavePart stores the output of one unit (a run of pages starting at
	// page unit) of range r and returns how many distinct units of r are
	// saved, so that the worker saving the last one assembles the range's
	// file. It reports AlreadyFinished when the operation is finished.
	SavePart(ctx context.Context, id string, r Range, unit int, data []byte) (int, Completion, error)
	// Part returns a saved unit, or an error wrapping ErrNotFound once the
	// range is complete or the operation has ended.
	Part(ctx context.Context, id string, r Range, unit int) ([]byte, error)
	// FailFile records that file failed as a whole with a google.rpc code
	// and message, for operations that go on past a failed file (the
	// workers' FILE_ERRORS=continue), and returns Finalized when this call
	// finished the operation, as CompleteRange does. With r the zero Range
	// the whole file failed: a file not yet planned is recorded as planned
	// with no ranges and no pages (so PagesTotal and the backlog stay
	// exact), and every range of a planned file not yet completed is
	// completed with all its pages failed. With r a planned range of file,
	// only r is completed with all its pages failed (an unplanned r is an
	// error). A range already completed is left as it is. Repeating a call
	// changes nothing but the recorded error, which the last call sets. It
	// reports AlreadyFinished when the operation is done, failed or
	// cancelled.
	FailFile(ctx context.Context, id string, file int, r Range, code int32, message string) (Completion, error)
	// Fail ends the operation with a google.rpc code and message unless it is
	// already finished; it reports whether this call ended it.
	Fail(ctx context.Context, id string, code int32, message string) (bool, error)
	// Cancel ends an unfinished operation as CANCELLED (error code 1). It
	// reports whether this call ended it; cancelling a finished operation is
	// a no-op.
	Cancel(ctx context.Context, id string) (bool, error)
	// Delete forgets the operation. Workers still holding its ranges find it
	// gone and drop them.
	Delete(ctx context.Context, id string) error
}

// ObjectAttrs are the attributes of a stored object that Folio uses.
type ObjectAttrs struct {
	Size       int64
	Generation int64
}

// Blobs reads and writes gs:// objects.
type Blobs interface {
	// Attrs returns an object's size and generation.
	Attrs(ctx context.Context, uri string) (ObjectAttrs, error)
	// BucketExists reports an error wrapping ErrNotFound when the bucket of
	// uri (gs://bucket/...) does not exist. Other failures, such as lacking
	// permission to read the bucket's metadata, are not reported: writing
	// objects needs less than that.
	BucketExists(ctx context.Context, uri string) error
	// NewReader reads generation gen of the object (0 = latest).
	NewReader(ctx context.Context, uri string, gen int64) (io.ReadCloser, error)
	// NewWriter starts writing an object at uri; it replaces any existing
	// object, and becomes visible, only when Close returns nil. Memory use
	// is bounded whatever the object's size.
	//
	// To abort a write, cancel ctx: no object is written. The caller must
	// call Close, even if the write is aborted. Errors of Write and Close
	// wrap the store's sentinels.
	NewWriter(ctx context.Context, uri, contentType string) (io.WriteCloser, error)
}
