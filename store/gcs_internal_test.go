package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

func TestWrapGCS(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error // the one sentinel err must match
	}{
		{"object missing", storage.ErrObjectNotExist, ErrNotFound},
		{"bucket missing", fmt.Errorf("x: %w", storage.ErrBucketNotExist), ErrNotFound},
		{"404", &googleapi.Error{Code: 404}, ErrNotFound},
		{"403", &googleapi.Error{Code: 403, Message: "forbidden"}, ErrPermissionDenied},
		{"401", &googleapi.Error{Code: 401}, ErrPermissionDenied},
		{"503", &googleapi.Error{Code: 503}, ErrUnavailable},
		{"network", errors.New("dial tcp: connection refused"), ErrUnavailable},
		{"deadline", context.DeadlineExceeded, context.DeadlineExceeded},
		{"400", &googleapi.Error{Code: 400, Message: "bad name"}, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wrapGCS("read gs://b/o", tt.err)
			for _, s := range []error{ErrNotFound, ErrPermissionDenied, ErrUnavailable, ErrInvalidArgument, context.DeadlineExceeded} {
				if errors.Is(got, s) != (s == tt.want) {
					t.Errorf("wrapGCS(%v) = %v; errors.Is(%v) = %v", tt.err, got, s, errors.Is(got, s))
				}
			}
		})
	}
}
