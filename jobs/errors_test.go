package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

func TestCodeAndFileFailure(t *testing.T) {
	const uri = "gs://b/in.pdf"
	tests := []struct {
		name      string
		err       error
		code      codes.Code
		permanent bool
		message   string
	}{
		{"missing", fmt.Errorf("store: stat: %w", store.ErrNotFound), codes.NotFound, true, uri + " does not exist"},
		{"denied", fmt.Errorf("x: %w", store.ErrPermissionDenied), codes.PermissionDenied, true, "permission denied reading " + uri},
		{"not a pdf", fmt.Errorf("pipeline: open pdf: %w: not a PDF", pipeline.ErrInvalidInput), codes.InvalidArgument, true, uri + ": open pdf: invalid input: not a PDF"},
		{"encrypted", fmt.Errorf("pipeline: %w", pipeline.ErrEncrypted), codes.InvalidArgument, true, uri + " is an encrypted (password-protected) PDF"},
		{"unsupported", fmt.Errorf("pipeline: %w: JBIG2", pipeline.ErrUnsupported), codes.Unimplemented, true, uri + ": unsupported: JBIG2"},
		{"redis down", fmt.Errorf("x: %w", store.ErrUnavailable), codes.Unavailable, false, "error processing " + uri},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, false, "error processing " + uri},
		{"unknown", errors.New("boom"), codes.Internal, false, "error processing " + uri},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rpcerr.Code(tt.err); got != tt.code {
				t.Errorf("Code = %v, want %v", got, tt.code)
			}
			err := fileFailure(uri, tt.err)
			if got := errors.Is(err, asynq.SkipRetry); got != tt.permanent {
				t.Errorf("SkipRetry = %v, want %v", got, tt.permanent)
			}
			var f *rpcerr.Error
			if !errors.As(err, &f) || f.Code != tt.code || f.Message != tt.message {
				t.Errorf("failure %+v, want code %v message %q", f, tt.code, tt.message)
			}
			if !strings.Contains(err.Error(), uri) {
				t.Errorf("%q does not name the file", err)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	down := fmt.Errorf("jobs: write gs://b/out/output-1-to-2.json: %w", store.ErrUnavailable)
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := RetryDelay(n, down, nil); got != want {
			t.Errorf("RetryDelay(%d, unavailable) = %s, want %s", n, got, want)
		}
	}
	// A lease that expired (asynq's recoverer retrying the task of a dead
	// or cut-off worker): the same, not asynq's 15 to 45 s.
	if got := RetryDelay(0, asynq.ErrLeaseExpired, nil); got != time.Second {
		t.Errorf("RetryDelay(0, lease expired) = %s, want 1s", got)
	}
	// Anything else keeps asynq's default: at least 15 s.
	if got := RetryDelay(0, errors.New("boom"), nil); got < 15*time.Second {
		t.Errorf("RetryDelay(0, internal) = %s, want asynq's default of 15 s or more", got)
	}
}

// A task whose lease expired while its worker was silent is not a failure:
// not of the task, and not of its operation even on the last attempt (the
// janitor queued it again; asynq's recoverer retries or archives the
// original). With no store at all, handleError must not touch one.
func TestLeaseExpiredIsNotAFailure(t *testing.T) {
	obs, logs := observer.New(zapcore.InfoLevel)
	h := &Handlers{Logger: zap.New(obs)}
	task := asynq.NewTask(TypeAnnotateRange, []byte(`{"operation":"op1","file":0,"first":1,"last":2}`))
	h.handleError(context.Background(), task, fmt.Errorf("handler: %w", asynq.ErrLeaseExpired))
	if logs.FilterLevelExact(zapcore.WarnLevel).Len()+logs.FilterLevelExact(zapcore.ErrorLevel).Len() != 0 {
		t.Errorf("a lease expiry was logged as a failure: %v", logs.All())
	}
	if logs.FilterMessageSnippet("lease expired").Len() != 1 {
		t.Error("no line says the task was dropped because its lease expired")
	}
}
