package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"
	"google.golang.org/grpc/codes"

	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/store"
)

// Failure is an error with the google.rpc code and the message that the
// operation's client sees. The message names the file (and page, where one
// is at fault); Err keeps the full chain for logs.
type Failure struct {
	Code    codes.Code
	Message string
	Err     error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Message
	}
	return f.Message + ": " + f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// Code classifies err as a google.rpc code.
func Code(err error) codes.Code {
	var f *Failure
	switch {
	case err == nil:
		return codes.OK
	case errors.As(err, &f):
		return f.Code
	case errors.Is(err, pipeline.ErrInvalidInput), errors.Is(err, pipeline.ErrEncrypted), errors.Is(err, store.ErrInvalidArgument):
		return codes.InvalidArgument
	case errors.Is(err, pipeline.ErrUnsupported):
		return codes.Unimplemented
	case errors.Is(err, store.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, store.ErrPermissionDenied):
		return codes.PermissionDenied
	case errors.Is(err, store.ErrUnavailable):
		return codes.Unavailable
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	return codes.Internal
}

// Permanent reports whether retrying cannot fix err.
func Permanent(err error) bool {
	switch Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.Unimplemented, codes.FailedPrecondition:
		return true
	}
	return false
}

// fileFailure builds the client-facing error of a file. Permanent failures
// skip asynq's retries.
func fileFailure(uri string, err error) error {
	code := Code(err)
	var msg string
	switch {
	case errors.Is(err, pipeline.ErrEncrypted):
		msg = fmt.Sprintf("%s is an encrypted (password-protected) PDF", uri)
	case errors.Is(err, pipeline.ErrInvalidInput):
		msg = fmt.Sprintf("%s: %s", uri, detail(err))
	case code == codes.NotFound:
		msg = fmt.Sprintf("%s does not exist", uri)
	case code == codes.PermissionDenied:
		msg = fmt.Sprintf("permission denied reading %s", uri)
	case code == codes.Unimplemented:
		msg = fmt.Sprintf("%s: %s", uri, detail(err))
	default:
		msg = fmt.Sprintf("error processing %s", uri)
	}
	f := &Failure{Code: code, Message: msg, Err: err}
	if Permanent(f) {
		return fmt.Errorf("%w: %w", f, asynq.SkipRetry)
	}
	return f
}

// detail is err's text without package prefixes, for client messages.
func detail(err error) string {
	s := err.Error()
	for _, p := range []string{"pipeline: ", "store: ", "jobs: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return strings.TrimSuffix(s, ": "+pipeline.ErrInvalidInput.Error())
}
