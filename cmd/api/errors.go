package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/folio-ocr/folio/jobs"
	"github.com/folio-ocr/folio/store"
)

// apiError is an error the API answers with as it is: a google.rpc code, a
// message safe to show to the client and optional google.rpc detail messages
// (BadRequest, ...). Handlers return it for every error they classify
// themselves; anything else goes through [errorCode].
type apiError struct {
	code    codes.Code
	message string
	details []proto.Message
	// err is the underlying cause, logged but never sent to the client.
	err error
}

// Error returns the client-facing message, followed by the cause if any.
func (e *apiError) Error() string {
	if e.err != nil {
		return e.message + ": " + e.err.Error()
	}
	return e.message
}

// Unwrap returns the underlying cause.
func (e *apiError) Unwrap() error { return e.err }

// errorf returns an *apiError with code c and a formatted message.
func errorf(c codes.Code, format string, args ...any) *apiError {
	return &apiError{code: c, message: fmt.Sprintf(format, args...)}
}

// fieldViolation is one broken validation rule: the request field, as a
// lowerCamel path such as "requests[1].outputConfig.batchSize", and a full
// description that names the field.
type fieldViolation struct {
	field       string
	description string
}

// validationError lists every validation rule a request breaks. It is
// answered as INVALID_ARGUMENT with a google.rpc.BadRequest detail carrying
// one field violation per broken rule.
type validationError struct {
	violations []fieldViolation
}

// Error joins the descriptions of all violations with "; ".
func (e *validationError) Error() string {
	msg := ""
	for i, v := range e.violations {
		if i > 0 {
			msg += "; "
		}
		msg += v.description
	}
	return msg
}

// apiError converts e into the error the API answers with.
func (e *validationError) apiError() *apiError {
	br := &errdetails.BadRequest{}
	for _, v := range e.violations {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       v.field,
			Description: v.description,
		})
	}
	return &apiError{code: codes.InvalidArgument, message: e.Error(), details: []proto.Message{br}}
}

// errorCode classifies err as a google.rpc code with errors.Is and errors.As
// only (STYLE §3.6): the API's own error types first, then the service-wide
// classifier [jobs.Code] (store, pipeline and context errors). Unclassified
// errors are INTERNAL.
func errorCode(err error) codes.Code {
	var (
		ae *apiError
		ve *validationError
		me *http.MaxBytesError
	)
	switch {
	case err == nil:
		return codes.OK
	case errors.As(err, &ae):
		return ae.code
	case errors.As(err, &ve), errors.As(err, &me):
		return codes.InvalidArgument
	case errors.Is(err, store.ErrAlreadyExists):
		return codes.AlreadyExists
	default:
		return jobs.Code(err)
	}
}

// httpStatus returns the HTTP status that google/rpc/code.proto maps c to.
func httpStatus(c codes.Code) int {
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

// statusName returns the google.rpc.Code enum name of c, e.g.
// "INVALID_ARGUMENT". grpc's codes.Code.String is CamelCase, so the names are
// spelled out here.
func statusName(c codes.Code) string {
	switch c {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	case codes.Unknown:
		return "UNKNOWN"
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	case codes.PermissionDenied:
		return "PERMISSION_DENIED"
	case codes.ResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case codes.FailedPrecondition:
		return "FAILED_PRECONDITION"
	case codes.Aborted:
		return "ABORTED"
	case codes.OutOfRange:
		return "OUT_OF_RANGE"
	case codes.Unimplemented:
		return "UNIMPLEMENTED"
	case codes.Internal:
		return "INTERNAL"
	case codes.Unavailable:
		return "UNAVAILABLE"
	case codes.DataLoss:
		return "DATA_LOSS"
	case codes.Unauthenticated:
		return "UNAUTHENTICATED"
	default:
		return "UNKNOWN"
	}
}

// errorBody is Google's HTTP error envelope,
// {"error":{"code":<http>,"message":...,"status":"INVALID_ARGUMENT","details":[...]}}.
// It is not a proto message (code is the HTTP status and status the enum
// name), so it is written with encoding/json; each detail is a google.rpc
// message packed in an Any and written with protojson.
type errorBody struct {
	Error errorStatus `json:"error"`
}

// errorStatus is the inside of [errorBody].
type errorStatus struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details,omitempty"`
}

// writeError answers r with err in Google's error shape. The message of an
// *apiError or a validation error is sent as it is; store and context errors
// get a short message naming their class; anything unclassified is INTERNAL
// with a generic message. Server-side failures are logged with the full
// error chain, client errors at debug level.
func (d *deps) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae *apiError
		ve *validationError
		me *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &ve):
		ae = ve.apiError()
	case errors.As(err, &me):
		ae = errorf(codes.InvalidArgument, "request payload size exceeds the limit: %d bytes", me.Limit)
	default:
		c := errorCode(err)
		ae = &apiError{code: c, err: err}
		switch c {
		case codes.NotFound:
			ae.message = "not found"
		case codes.AlreadyExists:
			ae.message = "already exists"
		case codes.PermissionDenied:
			ae.message = "permission denied"
		case codes.Unavailable:
			ae.message = "the service is temporarily unavailable; try again"
		case codes.DeadlineExceeded:
			ae.message = "the request deadline was exceeded"
		case codes.Canceled:
			ae.message = "the request was cancelled"
		default:
			ae.code = codes.Internal
			ae.message = "internal error"
		}
	}

	status := httpStatus(ae.code)
	fields := []zap.Field{
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.Int("status", status),
		zap.String("code", statusName(ae.code)),
		zap.Error(err),
	}
	if status >= 500 {
		d.logger.Error("request failed", fields...)
	} else {
		d.logger.Debug("request rejected", fields...)
	}

	body := errorBody{Error: errorStatus{Code: status, Message: ae.message, Status: statusName(ae.code)}}
	for _, m := range ae.details {
		raw, err := marshalDetail(m)
		if err != nil {
			d.logger.Error("marshal error detail", zap.Error(err))
			continue
		}
		body.Error.Details = append(body.Error.Details, raw)
	}
	b, err := json.Marshal(body)
	if err != nil { // Cannot happen with these types; keep the shape anyway.
		d.logger.Error("marshal error body", zap.Error(err))
		b = []byte(`{"error":{"code":500,"message":"internal error","status":"INTERNAL"}}`)
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, b)
}

// marshalDetail packs m in an Any and returns its protojson form, e.g.
// {"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[...]}.
func marshalDetail(m proto.Message) (json.RawMessage, error) {
	a, err := anypb.New(m)
	if err != nil {
		return nil, fmt.Errorf("api: pack error detail: %w", err)
	}
	b, err := protojson.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("api: marshal error detail: %w", err)
	}
	return b, nil
}

// writeJSON writes b as the JSON body of a response with the given status.
func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b) // The client is gone if this fails; nothing to do.
}
