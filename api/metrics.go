package api

import (
	"context"
	"net/http"
	"path"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/rpcerr"
)

// The method label of a REST call is the name of its gRPC method, so that
// both transports count a method under one name.
const (
	methodAsyncFiles   = "AsyncBatchAnnotateFiles"
	methodFiles        = "BatchAnnotateFiles"
	methodImages       = "BatchAnnotateImages"
	methodAsyncImages  = "AsyncBatchAnnotateImages"
	methodGetOperation = "GetOperation"
	methodListOps      = "ListOperations"
	methodCancelOp     = "CancelOperation"
	methodDeleteOp     = "DeleteOperation"
	methodGetProgress  = "GetProgress"
	methodUnknown      = "unknown" // a path or verb that names no method
)

// callKey is the context key of a REST call's *call.
type callKey struct{}

// call is what the metrics of one REST call record: the method it named,
// and the google.rpc code of its answer (OK unless writeError answered).
type call struct {
	method string
	code   codes.Code
}

// instrument records every REST call that names a method in h.metrics;
// the health probes name none and are not recorded.
func (h *rest) instrument(next http.Handler) http.Handler {
	if h.metrics == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c := &call{}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
		if c.method != "" {
			h.metrics.Observe(metrics.TransportREST, c.method, rpcerr.Name(c.code), time.Since(start))
		}
	})
}

// setMethod names the method of r's call for its metrics, unless it was
// named already.
func setMethod(r *http.Request, method string) {
	if c, ok := r.Context().Value(callKey{}).(*call); ok && c.method == "" {
		c.method = method
	}
}

// setCode records the code r's call is answered with, for its metrics.
func setCode(r *http.Request, code codes.Code) {
	if c, ok := r.Context().Value(callKey{}).(*call); ok {
		c.code = code
	}
}

// named returns next, naming the method of its calls.
func named(method string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setMethod(r, method)
		next.ServeHTTP(w, r)
	})
}

// observe records every gRPC call of Folio's services in gs.metrics, with
// the code the client receives (the health and reflection services are
// not recorded). It runs outside intercept, which sets that code.
func (gs *GRPCServer) observe(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if gs.metrics == nil || strings.HasPrefix(info.FullMethod, "/grpc.") {
		return handler(ctx, req)
	}
	start := time.Now()
	resp, err := handler(ctx, req)
	gs.metrics.Observe(metrics.TransportGRPC, path.Base(info.FullMethod), rpcerr.Name(status.Code(err)), time.Since(start))
	return resp, err
}
