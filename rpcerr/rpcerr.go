// Package rpcerr classifies Folio's errors as google.rpc codes, the one
// classification that the api (HTTP status and gRPC status), the jobs
// (Operation.error and retries) and every tool share.
//
// Packages declare their sentinel errors with [Sentinel], which carries a
// code; [Code] finds the first code in an error's chain with errors.As and
// errors.Is only, never by matching strings. An [*Error] carries a code and
// the message a client sees; its cause is for logs only.
package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// Error is an error with the google.rpc code and the message that a client
// sees: a request's answer or an operation's error. The message names what
// is at fault (field, file, page). Details are google.rpc detail messages
// (BadRequest, RetryInfo, ...) sent with it; Err is the cause, logged but
// never sent.
type Error struct {
	Code    codes.Code
	Message string
	Details []proto.Message
	Err     error
}

// Error returns the client's message followed by the cause, if any.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code c and a formatted message, without a
// cause.
func Errorf(c codes.Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// coder is implemented by errors that know their google.rpc code.
type coder interface{ RPCCode() codes.Code }

// sentinel is an error value created by [Sentinel].
type sentinel struct {
	code codes.Code
	msg  string
}

func (s *sentinel) Error() string       { return s.msg }
func (s *sentinel) RPCCode() codes.Code { return s.code }

// Sentinel returns a new sentinel error with message msg whose google.rpc
// code is c: [Code] reports c for any error that wraps it. Each call
// returns a distinct value, compared with errors.Is as errors.New's are.
func Sentinel(c codes.Code, msg string) error { return &sentinel{code: c, msg: msg} }

// Code returns err's google.rpc code: OK for nil; the code of the first
// [*Error] or [Sentinel] in err's chain; InvalidArgument for a request body
// over its limit (*http.MaxBytesError); CANCELLED and DEADLINE_EXCEEDED for
// the context errors; INTERNAL for anything else.
func Code(err error) codes.Code {
	var (
		e  *Error
		c  coder
		me *http.MaxBytesError
	)
	switch {
	case err == nil:
		return codes.OK
	case errors.As(err, &e):
		return e.Code
	case errors.As(err, &c):
		return c.RPCCode()
	case errors.As(err, &me):
		return codes.InvalidArgument
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	return codes.Internal
}

// Permanent reports whether retrying cannot fix err: its code says the
// input, its location or the caller's rights are at fault, or it is a
// recovered panic ([Recovered]), which the same input raises again.
func Permanent(err error) bool {
	if errors.Is(err, ErrPanic) {
		return true
	}
	switch Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.Unimplemented,
		codes.FailedPrecondition, codes.AlreadyExists, codes.OutOfRange:
		return true
	}
	return false
}

// ErrPanic is in the chain of every error [Recovered] returns; its code is
// INTERNAL.
var ErrPanic = Sentinel(codes.Internal, "panic")

// PanicError is a recovered panic, for logs: the value and the stack of
// the goroutine that panicked. It wraps [ErrPanic].
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// Unwrap returns ErrPanic.
func (p *PanicError) Unwrap() error { return ErrPanic }

// Recovered returns the error of v, a value recovered from a panic: code
// INTERNAL, the client's message formatted from format and args (what was
// being done, naming the page or file; never v, which is for logs), and a
// [*PanicError] with v and the stack as its cause. Call it in the deferred
// function that recovered v, so that the stack is the panicking one.
func Recovered(v any, format string, args ...any) *Error {
	return &Error{Code: codes.Internal, Message: fmt.Sprintf(format, args...),
		Err: &PanicError{Value: v, Stack: debug.Stack()}}
}

// Public returns the error a client is answered with for err: an [*Error]
// in err's chain as it is; a request body over its limit as
// INVALID_ARGUMENT naming the limit; other classified errors with a short
// message naming their class; anything unclassified as INTERNAL with a
// generic message. The result's Err is err, for logs.
func Public(err error) *Error {
	var (
		e  *Error
		me *http.MaxBytesError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return &Error{Code: e.Code, Message: e.Message, Details: e.Details, Err: err}
	case errors.As(err, &me):
		return &Error{Code: codes.InvalidArgument,
			Message: fmt.Sprintf("request payload size exceeds the limit: %d bytes", me.Limit), Err: err}
	}
	c := Code(err)
	msg := ""
	switch c {
	case codes.NotFound:
		msg = "not found"
	case codes.AlreadyExists:
		msg = "already exists"
	case codes.PermissionDenied:
		msg = "permission denied"
	case codes.InvalidArgument:
		msg = "invalid argument"
	case codes.Unimplemented:
		msg = "not implemented"
	case codes.Unavailable:
		msg = "the service is temporarily unavailable; try again"
	case codes.DeadlineExceeded:
		msg = "the request deadline was exceeded"
	case codes.Canceled:
		msg = "the request was cancelled"
	default:
		c, msg = codes.Internal, "internal error"
	}
	return &Error{Code: c, Message: msg, Err: err}
}

// HTTPStatus returns the HTTP status that google/rpc/code.proto maps c to.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // Client Closed Request; net/http has no constant.
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default: // Unknown, Internal, DataLoss and anything new.
		return http.StatusInternalServerError
	}
}

// names are the google.rpc.Code enum names; grpc's codes.Code.String is
// CamelCase.
var names = [...]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

// Name returns the google.rpc.Code enum name of c, e.g. "INVALID_ARGUMENT";
// "UNKNOWN" for a code outside the enum.
func Name(c codes.Code) string {
	if int(c) < len(names) {
		return names[c]
	}
	return "UNKNOWN"
}
