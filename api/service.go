package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/lang"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

const (
	// DefaultPageSize and MaxPageSize bound operations.list; a larger
	// pageSize is lowered to MaxPageSize (AIP-158).
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// writeTimeout bounds the store and queue calls of one submission. They
	// run on a context detached from the caller's, so that a client hanging
	// up between Create and EnqueueOperation does not strand a CREATED
	// operation that nothing will ever run.
	writeTimeout = 10 * time.Second
	// createAttempts is how many fresh ids a submission tries when the store
	// reports an id clash.
	createAttempts = 3
	// waitPoll is how often WaitOperation reads the operation.
	waitPoll = 500 * time.Millisecond
	// maxWait bounds one WaitOperation call, so that a call without a
	// timeout cannot hold a connection forever; the caller waits again.
	maxWait = time.Minute
)

// Queue queues the work of a new operation: one plan task per request file.
// It is satisfied by *jobs.Client.
type Queue interface {
	// EnqueueOperation queues op's work. Queueing the same operation twice
	// is not an error.
	EnqueueOperation(ctx context.Context, op *store.Operation) error
}

// Config holds a Service's dependencies. Ops and Queue are required.
type Config struct {
	// Ops stores operation state.
	Ops store.Operations
	// Queue queues the work of new operations.
	Queue Queue
	// Models are the Tesseract models installed on this host, which
	// language hints are checked against; nil (the api host has none, or
	// they are unknown) checks only that hints name known languages.
	Models lang.Models
	// Logger receives one entry per operation created, cancelled or
	// deleted and per server-side failure. If nil, nothing is logged.
	Logger *zap.Logger
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// NewID returns a fresh operation id. If nil, 16 random lowercase hex
	// digits, the shape of Google's operation ids.
	NewID func() string
	// Sync runs the synchronous calls (files:annotate, images:annotate). If
	// nil, they answer UNIMPLEMENTED.
	Sync SyncAnnotator
	// Keys, when not nil, turns authentication on: every call must carry
	// one of its API keys, whose policy applies (see [auth.Key]), and each
	// key sees only its own operations.
	Keys *auth.Source
	// Quotas counts what keys use, for their quotas; nil enforces none.
	Quotas store.Quotas
}

// Service is Folio's API, independent of transport: it implements
// google.cloud.vision.v1.ImageAnnotator and google.longrunning.Operations
// over an operation store and a work queue. REST ([NewHandler]) and gRPC
// ([RegisterGRPC]) are thin layers over it, so both answer with the same
// results, codes and messages.
//
// Its methods return errors that [rpcerr.Public] turns into what the
// client sees: an *rpcerr.Error as it is, anything else with a generic
// message of its class.
type Service struct {
	longrunningpb.UnimplementedOperationsServer

	ops    store.Operations
	queue  Queue
	sync   SyncAnnotator
	models lang.Models
	keys   *auth.Source
	quotas store.Quotas
	logger *zap.Logger
	now    func() time.Time
	newID  func() string
}

var (
	_ visionpb.ImageAnnotatorServer  = (*Service)(nil)
	_ longrunningpb.OperationsServer = (*Service)(nil)
)

// New returns a Service over cfg, with cfg's defaults applied; it fails if
// a required dependency is missing.
func New(cfg Config) (*Service, error) {
	if cfg.Ops == nil || cfg.Queue == nil {
		return nil, errors.New("api: Config.Ops and Config.Queue are required")
	}
	s := &Service{ops: cfg.Ops, queue: cfg.Queue, sync: cfg.Sync, models: cfg.Models, keys: cfg.Keys, quotas: cfg.Quotas,
		logger: cfg.Logger, now: cfg.Now, newID: cfg.NewID}
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = newOperationID
	}
	return s, nil
}

// newOperationID returns 16 random lowercase hex digits from crypto/rand.
func newOperationID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

// AsyncBatchAnnotateFiles validates req, records the operation in state
// CREATED, queues its work and returns the operation. Its name carries
// req.parent: projects/{p}[/locations/{l}]/operations/{id}, else
// operations/{id}. An invalid request is INVALID_ARGUMENT and records
// nothing; a queue failure is UNAVAILABLE and ends the operation with code
// 14, or deletes it if it has an idempotency key, so that a retry with the
// key starts afresh. A call whose context carries an idempotency key
// ([WithIdempotencyKey]) already used returns the operation created with
// it, as it is now, and queues nothing.
func (s *Service) AsyncBatchAnnotateFiles(ctx context.Context, req *visionpb.AsyncBatchAnnotateFilesRequest) (*longrunningpb.Operation, error) {
	return s.submit(ctx, apiV1, req)
}

// submit is AsyncBatchAnnotateFiles for API version v, whose @type names
// the operation's JSON carries.
func (s *Service) submit(ctx context.Context, v string, req *visionpb.AsyncBatchAnnotateFilesRequest) (*longrunningpb.Operation, error) {
	ctx, k, err := s.admit(ctx)
	if err != nil {
		return nil, err
	}
	if err := validateRequest(req, s.models); err != nil {
		return nil, err
	}
	if err := s.checkAccess(k, filesAccesses(req.GetRequests())); err != nil {
		return nil, err
	}
	return s.start(ctx, v, &store.Operation{Request: req, Owner: ownerOf(k)}, req.GetParent(), len(req.GetRequests()))
}

// AsyncBatchAnnotateImages validates req and starts an operation that
// annotates its images in batches of outputConfig.batchSize, each written
// to <gcsDestination.uri>output-A-to-B.json as a BatchAnnotateImagesResponse
// (A and B count images from 1), as Google does. Names, idempotency and
// errors are as for [Service.AsyncBatchAnnotateFiles]; its response is an
// AsyncBatchAnnotateImagesResponse echoing outputConfig.
func (s *Service) AsyncBatchAnnotateImages(ctx context.Context, req *visionpb.AsyncBatchAnnotateImagesRequest) (*longrunningpb.Operation, error) {
	return s.submitImages(ctx, apiV1, req)
}

// submitImages is AsyncBatchAnnotateImages for API version v.
func (s *Service) submitImages(ctx context.Context, v string, req *visionpb.AsyncBatchAnnotateImagesRequest) (*longrunningpb.Operation, error) {
	ctx, k, err := s.admit(ctx)
	if err != nil {
		return nil, err
	}
	if err := validateAsyncImagesRequest(req, s.models); err != nil {
		return nil, err
	}
	if err := s.checkAccess(k, imagesAccesses(req.GetRequests(), req.GetOutputConfig().GetGcsDestination().GetUri())); err != nil {
		return nil, err
	}
	return s.start(ctx, v, &store.Operation{Images: req, Owner: ownerOf(k)}, req.GetParent(), len(req.GetRequests()))
}

// start records a CREATED operation of API version v under parent for the
// request in tmpl (Request or Images), queues its work and answers with
// it; items (files or images) is for the log.
func (s *Service) start(ctx context.Context, v string, tmpl *store.Operation, parent string, items int) (*longrunningpb.Operation, error) {
	key, err := idempotencyKey(ctx)
	if err != nil {
		return nil, err
	}
	key = scopedIdempotencyKey(tmpl.Owner, key)
	// Detached: see writeTimeout. The caller's values (its idempotency key)
	// are kept.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	op, first, err := s.create(wctx, v, tmpl, parent, key)
	if err != nil || first != nil { // a duplicate's work is queued already
		return first, err
	}
	if err := s.checkPages(wctx, auth.KeyFrom(ctx), int64(max(1, len(op.Request.GetRequests())))); err != nil {
		// Not queued: forget it (which frees its idempotency key).
		if derr := s.ops.Delete(wctx, op.ID); derr != nil {
			s.logger.Error("delete operation over quota", zap.String("operation", op.Name), zap.Error(derr))
		}
		return nil, err
	}
	if err := s.queue.EnqueueOperation(wctx, op); err != nil {
		s.logger.Error("enqueue operation", zap.String("operation", op.Name), zap.Error(err))
		// A fresh deadline: the enqueue may have used up wctx's.
		fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
		defer fcancel()
		if ferr := s.abandon(fctx, op); ferr != nil {
			s.logger.Error("abandon unqueued operation", zap.String("operation", op.Name), zap.Error(ferr))
		}
		return nil, &rpcerr.Error{
			Code:    codes.Unavailable,
			Message: "the operation could not be queued; try again",
			Err:     fmt.Errorf("api: enqueue operation %s: %w", op.Name, err),
		}
	}
	s.logger.Info("operation created", zap.String("operation", op.Name), zap.String("key", op.Owner),
		zap.String("api_version", v), zap.Int("items", items), zap.Bool("images", tmpl.Images != nil))
	return toProto(op)
}

// createOperation records a new CREATED operation for the request of tmpl
// under parent with idempotency key key, retrying with a fresh id if the
// store reports a clash. A key found on another operation is an error
// wrapping the store's *store.DuplicateError.
func (s *Service) createOperation(ctx context.Context, v string, tmpl *store.Operation, parent, key string) (*store.Operation, error) {
	now := s.now().UTC()
	var err error
	for range createAttempts {
		id := s.newID()
		name := "operations/" + id
		if parent != "" {
			name = parent + "/" + name
		}
		op := &store.Operation{
			ID:         id,
			Name:       name,
			APIVersion: v,
			State:      visionpb.OperationMetadata_CREATED,
			CreateTime: now,
			UpdateTime: now,
			Request:    tmpl.Request,
			Images:     tmpl.Images,
			Owner:      tmpl.Owner,

			IdempotencyKey: key,
		}
		if err = s.ops.Create(ctx, op); err == nil {
			return op, nil
		}
		if !errors.Is(err, store.ErrAlreadyExists) {
			break
		}
	}
	return nil, fmt.Errorf("api: create operation: %w", err)
}

// unimplemented is the error of a Vision method Folio does not serve.
func unimplemented(method string) error {
	return rpcerr.Errorf(codes.Unimplemented, "%s is not implemented by this Folio server", method)
}

// GetOperation returns the named operation. Any name form of it resolves
// (it is looked up by id); the answer carries the name it was created with.
func (s *Service) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	op, err := s.operation(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return toProto(op)
}

// operation admits the caller and returns the operation called name, if
// the caller may see it: another key's operation is NOT_FOUND, as an
// unknown one is.
func (s *Service) operation(ctx context.Context, name string) (*store.Operation, error) {
	ctx, k, err := s.admit(ctx)
	if err != nil {
		return nil, err
	}
	id, err := operationID(name)
	if err != nil {
		return nil, err
	}
	op, err := s.ops.Get(ctx, id)
	if err != nil {
		return nil, notFound(name, err)
	}
	if !owns(k, op) {
		return nil, notFound(name, store.ErrNotFound)
	}
	return op, nil
}

// ListOperations returns operations newest first. pageSize defaults to
// [DefaultPageSize] and is capped at [MaxPageSize]; pageToken is the
// previous answer's nextPageToken; filter is described at [parseFilter].
// With a filter a page may hold fewer than pageSize operations while
// nextPageToken is still set. Every operation is listed whatever req.name
// ("operations", or a parent's collection).
func (s *Service) ListOperations(ctx context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	ctx, k, err := s.admit(ctx)
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalidFields(&errdetails.BadRequest_FieldViolation{
			Field: "pageSize", Description: fmt.Sprintf("pageSize must not be negative, got %d", size)})
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	f, err := parseFilter(req.GetFilter())
	if err != nil {
		return nil, err
	}
	f.Owner = ownerOf(k)
	ops, next, err := s.ops.List(ctx, size, req.GetPageToken(), f)
	if err != nil {
		if errors.Is(err, store.ErrInvalidArgument) {
			return nil, invalidFields(&errdetails.BadRequest_FieldViolation{
				Field: "pageToken", Description: fmt.Sprintf("pageToken %q is not a token this service returned", req.GetPageToken())})
		}
		return nil, fmt.Errorf("api: list operations: %w", err)
	}
	resp := &longrunningpb.ListOperationsResponse{NextPageToken: next}
	for _, op := range ops {
		p, err := toProto(op)
		if err != nil { // One bad record must not hide the others.
			s.logger.Error("convert listed operation", zap.String("operation", op.Name), zap.Error(err))
			continue
		}
		resp.Operations = append(resp.Operations, p)
	}
	return resp, nil
}

// parseFilter returns the store filter of an operations.list filter: ""
// keeps everything; terms joined by " AND " select by completion
// ("done=true", "done=false") or state ("state=RUNNING", also
// "metadata.state", any of CREATED, RUNNING, DONE, CANCELLED); ':' may
// stand for '=' and spaces around either are ignored. Anything else is
// INVALID_ARGUMENT.
func parseFilter(f string) (store.ListFilter, error) {
	var out store.ListFilter
	if strings.TrimSpace(f) == "" {
		return out, nil
	}
	bad := func(why string) (store.ListFilter, error) {
		return store.ListFilter{}, invalidFields(&errdetails.BadRequest_FieldViolation{
			Field: "filter",
			Description: fmt.Sprintf("filter %q is not supported: %s; use done=true, done=false or state=CREATED|RUNNING|DONE|CANCELLED, joined by AND",
				f, why)})
	}
	for _, term := range strings.Split(f, " AND ") {
		key, val, ok := strings.Cut(term, "=")
		if !ok {
			key, val, ok = strings.Cut(term, ":")
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case !ok:
			return bad(fmt.Sprintf("%q is not key=value", strings.TrimSpace(term)))
		case key == "done":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return bad(fmt.Sprintf("done must be true or false, got %q", val))
			}
			if out.Done != nil && *out.Done != b {
				return bad("done is given twice")
			}
			out.Done = &b
		case key == "state" || key == "metadata.state":
			n, found := visionpb.OperationMetadata_State_value[strings.ToUpper(val)]
			if !found || n == 0 {
				return bad(fmt.Sprintf("unknown state %q", val))
			}
			if len(out.States) > 0 {
				return bad("state is given twice")
			}
			out.States = []store.State{store.State(n)}
		default:
			return bad(fmt.Sprintf("unknown field %q", key))
		}
	}
	return out, nil
}

// CancelOperation ends an unfinished operation as CANCELLED (error code 1):
// queued ranges are skipped and running ones stop at the next page.
// Cancelling a finished operation changes nothing.
func (s *Service) CancelOperation(ctx context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	id, err := s.visibleID(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	cancelled, err := s.ops.Cancel(ctx, id)
	if err != nil {
		return nil, notFound(req.GetName(), err)
	}
	s.logger.Info("operation cancel", zap.String("operation", req.GetName()), zap.Bool("cancelled", cancelled))
	return &emptypb.Empty{}, nil
}

// DeleteOperation forgets the operation; workers still holding its ranges
// drop them.
func (s *Service) DeleteOperation(ctx context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	id, err := s.visibleID(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.ops.Delete(ctx, id); err != nil {
		return nil, notFound(req.GetName(), err)
	}
	s.logger.Info("operation deleted", zap.String("operation", req.GetName()))
	return &emptypb.Empty{}, nil
}

// WaitOperation returns the operation once it is done or req.timeout (at
// most a minute; a minute when unset) has passed, whichever is first, as
// google.longrunning documents; the caller's deadline ends it sooner.
func (s *Service) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	ctx, _, err := s.admit(ctx)
	if err != nil {
		return nil, err
	}
	wait := maxWait
	if d := req.GetTimeout(); d != nil && d.AsDuration() > 0 && d.AsDuration() < wait {
		wait = d.AsDuration()
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		op, err := s.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: req.GetName()})
		if err != nil || op.GetDone() {
			return op, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("api: wait for %s: %w", req.GetName(), ctx.Err())
		case <-deadline.C:
			return op, nil
		case <-tick.C:
		}
	}
}

// visibleID admits the caller and returns the id of the operation called
// name. With authentication on, the operation is read first: another key's
// operation is NOT_FOUND. Without, nothing is read.
func (s *Service) visibleID(ctx context.Context, name string) (string, error) {
	if s.keys == nil {
		return operationID(name)
	}
	op, err := s.operation(ctx, name)
	if err != nil {
		return "", err
	}
	return op.ID, nil
}

// operationID returns the id of an operation name: operations/{id},
// locations/{l}/operations/{id}, projects/{p}/operations/{id} or
// projects/{p}/locations/{l}/operations/{id}. Another name is NOT_FOUND, as
// Google answers.
func operationID(name string) (string, error) {
	seg := strings.Split(name, "/")
	for _, s := range seg {
		if !validSegment(s) {
			return "", rpcerr.Errorf(codes.NotFound, "operation %q not found: not an operation name", name)
		}
	}
	switch n := len(seg); {
	case n == 2 && seg[0] == "operations":
	case n == 4 && seg[0] == "locations" && seg[2] == "operations":
	case n == 4 && seg[0] == "projects" && seg[2] == "operations":
	case n == 6 && seg[0] == "projects" && seg[2] == "locations" && seg[4] == "operations":
	default:
		return "", rpcerr.Errorf(codes.NotFound, "operation %q not found: not an operation name", name)
	}
	return seg[len(seg)-1], nil
}

// notFound returns the error for an unknown operation, or err itself.
func notFound(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return &rpcerr.Error{Code: codes.NotFound, Message: fmt.Sprintf("operation %s not found", name), Err: err}
	}
	return fmt.Errorf("api: operation %s: %w", name, err)
}
