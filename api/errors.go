package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/folio-ocr/folio/rpcerr"
)

// logFailure logs a failed call once, where it is answered: server-side
// failures (INTERNAL, UNAVAILABLE, ...) at error level with the full chain,
// client errors at debug level.
func logFailure(logger *zap.Logger, pe *rpcerr.Error, fields ...zap.Field) {
	fields = append(fields, zap.String("code", rpcerr.Name(pe.Code)), zap.Error(pe.Err))
	if rpcerr.HTTPStatus(pe.Code) >= 500 {
		logger.Error("request failed", fields...)
	} else {
		logger.Debug("request rejected", fields...)
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

// writeError answers r with err in Google's error shape, as [rpcerr.Public]
// presents it, and logs it.
func (h *rest) writeError(w http.ResponseWriter, r *http.Request, err error) {
	pe := rpcerr.Public(err)
	setCode(r, pe.Code)
	status := rpcerr.HTTPStatus(pe.Code)
	logFailure(h.logger, pe, zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", status))

	body := errorBody{Error: errorStatus{Code: status, Message: pe.Message, Status: rpcerr.Name(pe.Code)}}
	for _, m := range pe.Details {
		if ri, ok := m.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))))
		}
		raw, err := marshalDetail(m)
		if err != nil {
			h.logger.Error("marshal error detail", zap.Error(err))
			continue
		}
		body.Error.Details = append(body.Error.Details, raw)
	}
	b, err := json.Marshal(body)
	if err != nil { // Cannot happen with these types; keep the shape anyway.
		h.logger.Error("marshal error body", zap.Error(err))
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
