package rpcerr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
)

var (
	errTestMissing = Sentinel(codes.NotFound, "test: not found")
	errTestDown    = Sentinel(codes.Unavailable, "test: unavailable")
)

func TestCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		want      codes.Code
		permanent bool
	}{
		{"nil", nil, codes.OK, false},
		{"error", Errorf(codes.Unimplemented, "x"), codes.Unimplemented, true},
		{"wrapped error", fmt.Errorf("wrapped: %w", &Error{Code: codes.InvalidArgument}), codes.InvalidArgument, true},
		{"body limit", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1}), codes.InvalidArgument, true},
		{"sentinel", fmt.Errorf("get: %w", errTestMissing), codes.NotFound, true},
		{"transient sentinel", fmt.Errorf("ping: %w", errTestDown), codes.Unavailable, false},
		{"error before sentinel", &Error{Code: codes.DeadlineExceeded, Err: errTestMissing}, codes.DeadlineExceeded, false},
		{"first of joined", fmt.Errorf("%w: %w", errTestDown, context.Canceled), codes.Unavailable, false},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), codes.DeadlineExceeded, false},
		{"cancelled", fmt.Errorf("get: %w", context.Canceled), codes.Canceled, false},
		{"unclassified", errors.New("boom"), codes.Internal, false},
		{"recovered panic", fmt.Errorf("page 2: %w", Recovered("boom", "internal error")), codes.Internal, true},
	}
	for _, tt := range tests {
		if got := Code(tt.err); got != tt.want {
			t.Errorf("%s: Code(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
		if got := Permanent(tt.err); got != tt.permanent {
			t.Errorf("%s: Permanent(%v) = %v, want %v", tt.name, tt.err, got, tt.permanent)
		}
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	t.Parallel()
	a, b := Sentinel(codes.NotFound, "x"), Sentinel(codes.NotFound, "x")
	if errors.Is(a, b) || !errors.Is(fmt.Errorf("w: %w", a), a) {
		t.Error("sentinels must compare by identity, as errors.New values do")
	}
}

func TestPublic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		{"error as is", fmt.Errorf("x: %w", Errorf(codes.NotFound, "operation operations/1 not found")), codes.NotFound, "operation operations/1 not found"},
		{"body limit", &http.MaxBytesError{Limit: 10}, codes.InvalidArgument, "request payload size exceeds the limit: 10 bytes"},
		{"sentinel hides its text", fmt.Errorf("redis 10.0.0.7:6379: %w", errTestDown), codes.Unavailable, "the service is temporarily unavailable; try again"},
		{"internal hides its text", errors.New("open /var/lib/secret: denied"), codes.Internal, "internal error"},
		{"panic hides its value", fmt.Errorf("x: %w", Recovered("secret", "internal error while reading page 2")), codes.Internal, "internal error while reading page 2"},
	}
	for _, tt := range tests {
		got := Public(tt.err)
		if got.Code != tt.code || got.Message != tt.msg || got.Err != tt.err {
			t.Errorf("%s: Public = {%v %q %v}, want {%v %q %v}", tt.name, got.Code, got.Message, got.Err, tt.code, tt.msg, tt.err)
		}
	}
	if Public(nil) != nil {
		t.Error("Public(nil) != nil")
	}
}

// A recovered panic keeps its value and the panicking stack for logs, and
// its message, not the value, for clients.
func TestRecovered(t *testing.T) {
	t.Parallel()
	var err error
	func() {
		defer func() { err = Recovered(recover(), "internal error while reading page %d", 7) }()
		panicHere()
	}()
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || !errors.Is(err, ErrPanic) {
		t.Fatalf("Recovered = %#v; want a *PanicError of \"boom\" wrapping ErrPanic", err)
	}
	if !bytes.Contains(pe.Stack, []byte("panicHere")) {
		t.Errorf("stack does not name the panicking function:\n%s", pe.Stack)
	}
	if got := Public(err).Message; got != "internal error while reading page 7" {
		t.Errorf("Public message %q", got)
	}
}

func panicHere() { panic("boom") }

// TestNamesAndHTTP checks every code against google/rpc/code.proto: the enum
// name and the HTTP mapping its comments give.
func TestNamesAndHTTP(t *testing.T) {
	t.Parallel()
	wantHTTP := map[codes.Code]int{
		codes.OK: 200, codes.Canceled: 499, codes.Unknown: 500, codes.InvalidArgument: 400,
		codes.DeadlineExceeded: 504, codes.NotFound: 404, codes.AlreadyExists: 409,
		codes.PermissionDenied: 403, codes.ResourceExhausted: 429, codes.FailedPrecondition: 400,
		codes.Aborted: 409, codes.OutOfRange: 400, codes.Unimplemented: 501, codes.Internal: 500,
		codes.Unavailable: 503, codes.DataLoss: 500, codes.Unauthenticated: 401,
	}
	if len(wantHTTP) != len(code.Code_name) {
		t.Fatalf("google.rpc.Code has %d values, the table %d", len(code.Code_name), len(wantHTTP))
	}
	for c, status := range wantHTTP {
		if got, want := Name(c), code.Code_name[int32(c)]; got != want {
			t.Errorf("Name(%v) = %q, want %q", c, got, want)
		}
		if got := HTTPStatus(c); got != status {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c, got, status)
		}
	}
	if Name(codes.Code(99)) != "UNKNOWN" {
		t.Error("Name(99) != UNKNOWN")
	}
}
