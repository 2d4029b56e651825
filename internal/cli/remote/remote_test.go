package remote

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		cfg           Config
		transport, ep string
		err           bool
	}{
		{cfg: Config{Endpoint: "http://localhost:8080/"}, transport: REST, ep: "http://localhost:8080"},
		{cfg: Config{Endpoint: "localhost:8081"}, transport: GRPC, ep: "localhost:8081"},
		{cfg: Config{Endpoint: "localhost:8080", Transport: REST}, transport: REST, ep: "http://localhost:8080"},
		{cfg: Config{Endpoint: "http://localhost:8081", Transport: GRPC}, transport: GRPC, ep: "localhost:8081"},
		{cfg: Config{Endpoint: "localhost:8081", Transport: "soap"}, err: true},
		{cfg: Config{}, err: true},
	}
	for _, tt := range tests {
		tr, ep, err := tt.cfg.Resolve()
		if (err != nil) != tt.err || tr != tt.transport || ep != tt.ep {
			t.Errorf("%+v: %q, %q, %v; want %q, %q, error %v", tt.cfg, tr, ep, err, tt.transport, tt.ep, tt.err)
		}
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "restarting"), true},
		{fmt.Errorf("get: %w", status.Error(codes.Unavailable, "x")), true},
		{&googleapi.Error{Code: 503}, true},
		{&googleapi.Error{Code: 502}, true},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{fmt.Errorf("post: %w", syscall.ECONNREFUSED), true},
		{status.Error(codes.InvalidArgument, "bad"), false},
		{status.Error(codes.NotFound, "gone"), false},
		{&googleapi.Error{Code: 400}, false},
		{errors.New("other"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestOperationName(t *testing.T) {
	for in, want := range map[string]string{"abc": "operations/abc", "operations/abc": "operations/abc",
		"projects/p/operations/abc": "projects/p/operations/abc"} {
		if got := OperationName(in); got != want {
			t.Errorf("OperationName(%q) = %q, want %q", in, got, want)
		}
	}
}
