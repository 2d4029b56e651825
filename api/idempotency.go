package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

const (
	// IdempotencyKeyHeader is the HTTP header of a files:asyncBatchAnnotate
	// call's idempotency key; over gRPC the key is the metadata entry
	// idempotencyKeyMetadata.
	IdempotencyKeyHeader = "Idempotency-Key"
	// idempotencyKeyMetadata is IdempotencyKeyHeader as gRPC metadata
	// (whose keys are lower case).
	idempotencyKeyMetadata = "idempotency-key"
	// MaxIdempotencyKeyLen is the longest idempotency key accepted.
	MaxIdempotencyKeyLen = 256
)

// idempotencyCtxKey is the context key of the idempotency key values a
// transport received with a call.
type idempotencyCtxKey struct{}

// WithIdempotencyKey returns ctx carrying key as the idempotency key of a
// files:asyncBatchAnnotate call made with it, as the REST header
// Idempotency-Key and the gRPC metadata idempotency-key do: within the
// store's retention window (OPERATION_TTL), a second call with the same
// key and request returns the operation the first one created instead of
// starting another. [Service.AsyncBatchAnnotateFiles] rejects a key that is
// not 1 to [MaxIdempotencyKeyLen] printable ASCII characters.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return withIdempotencyKeys(ctx, []string{key})
}

// withIdempotencyKeys returns ctx carrying the values a transport received
// for the idempotency key, or ctx itself if there are none. They are
// checked where they are used, by submit, so that other calls ignore them.
func withIdempotencyKeys(ctx context.Context, values []string) context.Context {
	if len(values) == 0 {
		return ctx
	}
	return context.WithValue(ctx, idempotencyCtxKey{}, values)
}

// withIdempotencyHeader passes the Idempotency-Key header of every request
// to next as a context value.
func withIdempotencyHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if vs := r.Header.Values(IdempotencyKeyHeader); len(vs) > 0 {
			r = r.WithContext(withIdempotencyKeys(r.Context(), vs))
		}
		next.ServeHTTP(w, r)
	})
}

// withIdempotencyMetadata returns ctx carrying the idempotency-key
// metadata of an incoming gRPC call, if it has any.
func withIdempotencyMetadata(ctx context.Context) context.Context {
	return withIdempotencyKeys(ctx, metadata.ValueFromIncomingContext(ctx, idempotencyKeyMetadata))
}

// idempotencyKey returns the call's idempotency key, "" if it has none. A
// key given more than once, empty, longer than MaxIdempotencyKeyLen or
// with a character outside printable ASCII (0x20-0x7E) is
// INVALID_ARGUMENT naming the header.
func idempotencyKey(ctx context.Context) (string, error) {
	vs, _ := ctx.Value(idempotencyCtxKey{}).([]string)
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", rpcerr.Errorf(codes.InvalidArgument,
			"the %s header (gRPC metadata %s) must be given once, got %d values", IdempotencyKeyHeader, idempotencyKeyMetadata, len(vs))
	}
	key := vs[0]
	if len(key) == 0 || len(key) > MaxIdempotencyKeyLen {
		return "", rpcerr.Errorf(codes.InvalidArgument,
			"the %s header (gRPC metadata %s) must be 1 to %d characters long, got %d",
			IdempotencyKeyHeader, idempotencyKeyMetadata, MaxIdempotencyKeyLen, len(key))
	}
	for i := range len(key) {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return "", rpcerr.Errorf(codes.InvalidArgument,
				"the %s header (gRPC metadata %s) must be printable ASCII characters, got byte 0x%02x at offset %d",
				IdempotencyKeyHeader, idempotencyKeyMetadata, c, i)
		}
	}
	return key, nil
}

// duplicate answers a submission whose idempotency key the store found on
// operation dup.ID: that operation as it is now, if it was created through
// the same API version with the same request (proto.Equal on the
// validated request, parent included); else INVALID_ARGUMENT naming the
// key and the operation. It reports retry when that operation is gone (it
// expired or was deleted since the store matched the key), so the caller
// creates a new one.
func (s *Service) duplicate(ctx context.Context, v string, tmpl *store.Operation, dup *store.DuplicateError) (op *longrunningpb.Operation, retry bool, err error) {
	first, err := s.ops.Get(ctx, dup.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("api: get operation %s of idempotency key %q: %w", dup.ID, dup.Key, err)
	}
	if first.APIVersion != v {
		return nil, false, rpcerr.Errorf(codes.InvalidArgument,
			"%s %q was already used for operation %s, submitted through /%s/, not /%s/; use a new key for a new request",
			IdempotencyKeyHeader, dup.Key, first.Name, first.APIVersion, v)
	}
	if !proto.Equal(requestOf(first), requestOf(tmpl)) {
		return nil, false, rpcerr.Errorf(codes.InvalidArgument,
			"%s %q was already used for operation %s with a different request; use a new key for a new request",
			IdempotencyKeyHeader, dup.Key, first.Name)
	}
	s.logger.Info("duplicate submission", zap.String("operation", first.Name), zap.String("idempotency_key", dup.Key))
	op, err = toProto(first)
	return op, false, err
}

// create records a new CREATED operation for req with idempotency key key
// ("" for none). When the store finds the key on an operation that exists,
// it returns that operation's answer as first instead, and records
// nothing (see [Service.duplicate]).
func (s *Service) create(ctx context.Context, v string, tmpl *store.Operation, parent, key string) (op *store.Operation, first *longrunningpb.Operation, err error) {
	for range createAttempts {
		op, err := s.createOperation(ctx, v, tmpl, parent, key)
		var dup *store.DuplicateError
		if !errors.As(err, &dup) {
			return op, nil, err
		}
		first, retry, err := s.duplicate(ctx, v, tmpl, dup)
		if !retry {
			return nil, first, err
		}
	}
	return nil, nil, fmt.Errorf("api: create operation with idempotency key %q: its operation vanished %d times: %w",
		key, createAttempts, store.ErrUnavailable)
}

// abandon ends an operation whose work could not be queued. One created
// with an idempotency key is deleted, which frees the key, so that the
// retry the client is asked for starts the work rather than returning
// this failure; one without is failed with code 14, so it is listed.
func (s *Service) abandon(ctx context.Context, op *store.Operation) error {
	if op.IdempotencyKey != "" {
		return s.ops.Delete(ctx, op.ID)
	}
	_, err := s.ops.Fail(ctx, op.ID, int32(codes.Unavailable), "the operation could not be queued; submit it again")
	return err
}

// requestOf returns the request an operation was started with, files or
// images; requests of the two kinds are never equal.
func requestOf(op *store.Operation) proto.Message {
	if op.Images != nil {
		return op.Images
	}
	return op.Request
}
