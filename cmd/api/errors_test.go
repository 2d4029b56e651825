package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/store"
)

func TestErrorCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{errorf(codes.Unimplemented, "x"), codes.Unimplemented},
		{fmt.Errorf("wrapped: %w", &validationError{}), codes.InvalidArgument},
		{fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1}), codes.InvalidArgument},
		{fmt.Errorf("get: %w", store.ErrNotFound), codes.NotFound},
		{fmt.Errorf("create: %w", store.ErrAlreadyExists), codes.AlreadyExists},
		{fmt.Errorf("read: %w", store.ErrPermissionDenied), codes.PermissionDenied},
		{fmt.Errorf("ping: %w", store.ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{fmt.Errorf("get: %w", context.Canceled), codes.Canceled},
		{errors.New("boom"), codes.Internal},
	}
	for _, tt := range tests {
		if got := errorCode(tt.err); got != tt.want {
			t.Errorf("errorCode(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestStatusNamesAndHTTP checks every code against google/rpc/code.proto:
// the enum name and the HTTP mapping its comments give.
func TestStatusNamesAndHTTP(t *testing.T) {
	t.Parallel()
	wantHTTP := map[codes.Code]int{
		codes.OK: 200, codes.Canceled: 499, codes.Unknown: 500, codes.InvalidArgument: 400,
		codes.DeadlineExceeded: 504, codes.NotFound: 404, codes.AlreadyExists: 409,
		codes.PermissionDenied: 403, codes.ResourceExhausted: 429, codes.FailedPrecondition: 400,
		codes.Aborted: 409, codes.OutOfRange: 400, codes.Unimplemented: 501, codes.Internal: 500,
		codes.Unavailable: 503, codes.DataLoss: 500, codes.Unauthenticated: 401,
	}
	for c, status := range wantHTTP {
		if got, want := statusName(c), code.Code_name[int32(c)]; got != want {
			t.Errorf("statusName(%v) = %q, want %q", c, got, want)
		}
		if got := httpStatus(c); got != status {
			t.Errorf("httpStatus(%v) = %d, want %d", c, got, status)
		}
	}
}
