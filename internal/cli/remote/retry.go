package remote

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Backoff bounds of retry.
const (
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 5 * time.Second
)

// retry calls f until it succeeds, fails with an error that is not
// Transient, ctx ends or c.retryFor has passed since the first failure,
// sleeping between calls from 250 ms doubling up to 5 s.
func (c *Client) retry(ctx context.Context, f func(context.Context) error) error {
	var deadline time.Time
	wait := firstBackoff
	for {
		err := f(ctx)
		if err == nil || !Transient(err) || ctx.Err() != nil {
			return err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(c.retryFor)
		}
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
}

// Transient reports whether err is what a server that is restarting or
// overloaded answers, so that the call may succeed later: gRPC
// UNAVAILABLE, HTTP 502, 503 or 504, a refused or reset connection or a
// connection closed mid-answer.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		switch gerr.Code {
		case 502, 503, 504:
			return true
		}
	}
	var aerr *apierror.APIError
	if errors.As(err, &aerr) {
		if c := aerr.HTTPCode(); c == 502 || c == 503 || c == 504 {
			return true
		}
		if aerr.GRPCStatus().Code() == codes.Unavailable {
			return true
		}
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.Unavailable {
		return true
	}
	var nerr *net.OpError
	return errors.As(err, &nerr) && nerr.Op == "dial"
}
