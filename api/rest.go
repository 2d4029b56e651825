package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/rpcerr"
)

const (
	// DefaultMaxRequestBytes is the largest REST request body accepted when
	// HTTPOptions.MaxRequestBytes is zero (MAX_REQUEST_BYTES).
	DefaultMaxRequestBytes = 10 << 20
	// readyTimeout bounds the readiness probe.
	readyTimeout = 2 * time.Second
)

// HTTPOptions configures [NewHandler]. The zero value is usable.
type HTTPOptions struct {
	// MaxRequestBytes is the largest request body accepted. If zero,
	// DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// Ready reports whether the service's backends answer (Redis PING);
	// /readyz calls it with a deadline of two seconds. If nil, /readyz
	// always answers ok.
	Ready func(context.Context) error
	// Metrics records every call (method, code, latency). If nil, nothing
	// is recorded.
	Metrics *metrics.API
}

// rest serves a Service over HTTP/JSON.
type rest struct {
	s       *Service
	maxBody int64
	ready   func(context.Context) error
	logger  *zap.Logger
	metrics *metrics.API
}

// NewHandler returns the REST surface of s, Google's HTTP/JSON binding of
// the same methods:
//
//	POST   /{v1,v1p4beta1}[/projects/{p}[/locations/{l}]]/files:asyncBatchAnnotate
//	       (and files:annotate, images:annotate, images:asyncBatchAnnotate)
//	GET    /v1/{name}          name = [projects/{p}/][locations/{l}/]operations/{id}
//	POST   /v1/{name}:cancel
//	DELETE /v1/{name}
//	GET    /v1/operations      ?pageSize, pageToken, filter
//	GET    /v1/{name}:progress Folio's extension: folio.v1.OperationProgress
//	GET    /healthz, /readyz
//
// A files:asyncBatchAnnotate call's Idempotency-Key header reaches the
// Service ([WithIdempotencyKey]), and so does its API key (the key query
// parameter, the x-goog-api-key header or Authorization: Bearer), which
// the Service checks when authentication is on. The operation routes are served under
// /v1p4beta1/ too. Any other path
// answers NOT_FOUND; every error has Google's shape. Standard system query
// parameters ($alt, prettyPrint, fields, ...) are ignored, except that
// enum-encoding=int in $alt makes responses carry enums as numbers, as
// Google's do. A nil opts is the zero value.
func NewHandler(s *Service, opts *HTTPOptions) http.Handler {
	if opts == nil {
		opts = &HTTPOptions{}
	}
	h := &rest{s: s, maxBody: opts.MaxRequestBytes, ready: opts.Ready, logger: s.logger.Named("http"), metrics: opts.Metrics}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxRequestBytes
	}

	mux := http.NewServeMux()
	for _, v := range []string{apiV1, apiV1p4beta1} {
		for _, parent := range []string{"", "/projects/{project}", "/projects/{project}/locations/{location}"} {
			prefix := "POST /" + v + parent
			mux.Handle(prefix+"/files:asyncBatchAnnotate", named(methodAsyncFiles, handleCall(h, v,
				func(ctx context.Context, req *visionpb.AsyncBatchAnnotateFilesRequest) (*longrunningpb.Operation, error) {
					return h.s.submit(ctx, v, req)
				})))
			mux.Handle(prefix+"/files:annotate", named(methodFiles, handleCall(h, v, h.s.BatchAnnotateFiles)))
			mux.Handle(prefix+"/images:annotate", named(methodImages, handleCall(h, v, h.s.BatchAnnotateImages)))
			mux.Handle(prefix+"/images:asyncBatchAnnotate", named(methodAsyncImages, handleCall(h, v,
				func(ctx context.Context, req *visionpb.AsyncBatchAnnotateImagesRequest) (*longrunningpb.Operation, error) {
					return h.s.submitImages(ctx, v, req)
				})))
		}
		mux.Handle("/"+v+"/{name...}", http.HandlerFunc(h.handleOperations))
	}
	mux.HandleFunc("GET /healthz", h.handleHealthz)
	mux.HandleFunc("GET /readyz", h.handleReadyz)
	mux.HandleFunc("/", h.handleNotFound)

	// Google's clients escape the ';' in "$alt=json;enum-encoding=int", but
	// others send it raw; accept it without net/http's warning per request.
	return http.AllowQuerySemicolons(h.instrument(h.recoverPanics(withCredential(withIdempotencyHeader(mux)))))
}

// withCredential passes the API key or bearer token of every request to
// next as a context value, for the Service to check (see [Service.admit]).
func withCredential(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(auth.WithCredential(r.Context(), auth.FromHTTP(r))))
	})
}

// parented is a request with a parent field, which may come from the URL.
type parented interface {
	proto.Message
	GetParent() string
}

// handleCall returns the handler of a unary method of API version v whose
// request message is Req: the body is read as Req (through the v1p4beta1
// message of the same name for v1p4beta1, which has the same field
// numbers), the URL's parent merged in, and call's answer written.
func handleCall[Req parented, Resp proto.Message](h *rest, v string, call func(context.Context, Req) (Resp, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The key first: no body is read for a caller without one.
		ctx, _, err := h.s.admit(r.Context())
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		r = r.WithContext(ctx)
		var req Req
		req = req.ProtoReflect().New().Interface().(Req)
		err = h.decodeVersioned(w, r, v, req)
		if err == nil {
			err = mergeParentField(r, req)
		}
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		resp, err := call(r.Context(), req)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		h.writeProto(w, r, resp)
	})
}

// decodeVersioned reads r's body into the v1 message req. It accepts
// lowerCamel and snake_case names and enums as names or numbers; unknown
// fields are INVALID_ARGUMENT. For v1p4beta1 the body is parsed as the
// v1p4beta1 message of the same name, so that fields that version lacks
// (parent, labels) are refused, and converted to v1, which has the same
// field numbers.
func (h *rest) decodeVersioned(w http.ResponseWriter, r *http.Request, v string, req proto.Message) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	if v == apiV1 {
		return unmarshalBody(body, req)
	}
	name := apiV1p4beta1Package + "." + string(req.ProtoReflect().Descriptor().Name())
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return fmt.Errorf("api: no %s message: %w", name, err)
	}
	beta := mt.New().Interface()
	if err := unmarshalBody(body, beta); err != nil {
		return err
	}
	if err := convertProto(beta, req); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}

// mergeParentField sets req's parent field from the URL, as [mergeParent].
func mergeParentField(r *http.Request, req parented) error {
	parent := req.GetParent()
	if err := mergeParent(r, &parent); err != nil {
		return err
	}
	if parent != req.GetParent() {
		m := req.ProtoReflect()
		m.Set(m.Descriptor().Fields().ByName("parent"), protoreflect.ValueOfString(parent))
	}
	return nil
}

// readBody reads r's body, at most h.maxBody bytes; a longer body yields an
// error wrapping *http.MaxBytesError.
func (h *rest) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return nil, fmt.Errorf("api: read request body: %w", err)
		}
		return nil, &rpcerr.Error{Code: codes.InvalidArgument, Message: "could not read the request body", Err: err}
	}
	return body, nil
}

// unmarshalBody parses a JSON request body into m with protojson. An empty
// body is an empty message. Errors are INVALID_ARGUMENT naming the field.
func unmarshalBody(body []byte, m proto.Message) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := protojson.Unmarshal(body, m); err != nil {
		// protojson prefixes "proto:" and a regular or non-breaking space
		// chosen at random; keep the part that names the field.
		msg := strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0")
		return &rpcerr.Error{Code: codes.InvalidArgument, Message: "invalid JSON payload received: " + msg, Err: err}
	}
	return nil
}

// mergeParent sets *parent, a request's parent field, from the URL's
// projects/{p}[/locations/{l}] when the body has none; both may be set only
// if they agree.
func mergeParent(r *http.Request, parent *string) error {
	p := r.PathValue("project")
	if p == "" {
		return nil
	}
	fromPath := "projects/" + p
	if l := r.PathValue("location"); l != "" {
		fromPath += "/locations/" + l
	}
	if _, _, ok := parseParent(fromPath); !ok {
		return rpcerr.Errorf(codes.InvalidArgument, "the URL's parent must be projects/{project} or projects/{project}/locations/{location}, got %q", fromPath)
	}
	switch fromBody := *parent; {
	case fromBody == "":
		*parent = fromPath
	case fromBody != fromPath:
		return invalidFields(&errdetails.BadRequest_FieldViolation{
			Field:       "parent",
			Description: fmt.Sprintf("parent %q does not match the URL's parent %q", fromBody, fromPath),
		})
	}
	return nil
}

// handleOperations serves the operations API under /v1/ and /v1p4beta1/:
// get, list, cancel and delete. The path after the version is parsed here
// because a name may end in ":cancel", which ServeMux patterns cannot split.
func (h *rest) handleOperations(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("name")
	if rest == "operations" {
		if r.Method != http.MethodGet {
			h.handleNotFound(w, r)
			return
		}
		setMethod(r, methodListOps)
		h.listOperations(w, r)
		return
	}
	name, verb, ok := splitVerb(rest)
	if !ok {
		h.handleNotFound(w, r)
		return
	}
	var (
		resp proto.Message
		err  error
	)
	switch {
	case verb == "" && r.Method == http.MethodGet:
		setMethod(r, methodGetOperation)
		resp, err = h.s.GetOperation(r.Context(), &longrunningpb.GetOperationRequest{Name: name})
	case verb == "" && r.Method == http.MethodDelete:
		setMethod(r, methodDeleteOp)
		resp, err = h.s.DeleteOperation(r.Context(), &longrunningpb.DeleteOperationRequest{Name: name})
	case verb == "progress" && r.Method == http.MethodGet:
		setMethod(r, methodGetProgress)
		resp, err = h.progress(r.Context(), name)
	case verb == "cancel" && r.Method == http.MethodPost:
		setMethod(r, methodCancelOp)
		req := &longrunningpb.CancelOperationRequest{}
		if err = h.decodeBody(w, r, req); err != nil {
			break
		}
		if n := req.GetName(); n != "" && n != name {
			err = rpcerr.Errorf(codes.InvalidArgument, "name %q in the body does not match the URL's %q", n, name)
			break
		}
		req.Name = name
		resp, err = h.s.CancelOperation(r.Context(), req)
	default:
		h.handleNotFound(w, r)
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeProto(w, r, resp)
}

// splitVerb splits an operation path, "{name}" or "{name}:{verb}", where
// name is an operation name ([operationID] accepts it).
func splitVerb(path string) (name, verb string, ok bool) {
	name = path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		if j := strings.LastIndexByte(path[i:], ':'); j >= 0 {
			name, verb = path[:i+j], path[i+j+1:]
			if verb == "" { // "operations/1:" names no method
				return "", "", false
			}
		}
	}
	if _, err := operationID(name); err != nil || strings.ContainsRune(name[strings.LastIndexByte(name, '/')+1:], ':') {
		return "", "", false
	}
	return name, verb, true
}

// decodeBody reads r's body into m; an empty body leaves m empty.
func (h *rest) decodeBody(w http.ResponseWriter, r *http.Request, m proto.Message) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	return unmarshalBody(body, m)
}

// listOperations answers GET /v1/operations?pageSize=&pageToken=&filter=.
func (h *rest) listOperations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := &longrunningpb.ListOperationsRequest{Name: "operations", Filter: q.Get("filter"), PageToken: q.Get("pageToken")}
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			h.writeError(w, r, invalidFields(&errdetails.BadRequest_FieldViolation{
				Field: "pageSize", Description: fmt.Sprintf("pageSize must be an integer, got %q", s)}))
			return
		}
		req.PageSize = int32(n)
	}
	resp, err := h.s.ListOperations(r.Context(), req)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeProto(w, r, resp)
}

// writeProto answers with m as compact protojson; enums are names unless the
// request asked for enum-encoding=int.
func (h *rest) writeProto(w http.ResponseWriter, r *http.Request, m proto.Message) {
	b, err := protojson.MarshalOptions{UseEnumNumbers: wantsEnumNumbers(r)}.Marshal(m)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("api: marshal response: %w", err))
		return
	}
	// protojson varies its whitespace on purpose; answer the same bytes
	// every time.
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		h.writeError(w, r, fmt.Errorf("api: compact response: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, buf.Bytes())
}

// wantsEnumNumbers reports whether the request's system parameters ask for
// enums as numbers: "$alt=json;enum-encoding=int" (the ';' escaped or not)
// or "alt=json&enum-encoding=int".
func wantsEnumNumbers(r *http.Request) bool {
	q := r.URL.Query()
	if q.Get("enum-encoding") == "int" {
		return true
	}
	for _, key := range []string{"$alt", "alt"} {
		for _, v := range q[key] {
			for _, part := range strings.Split(v, ";") {
				if strings.TrimSpace(part) == "enum-encoding=int" {
					return true
				}
			}
		}
	}
	return false
}

// handleNotFound answers any unknown method or path with NOT_FOUND.
func (h *rest) handleNotFound(w http.ResponseWriter, r *http.Request) {
	setMethod(r, methodUnknown)
	h.writeError(w, r, rpcerr.Errorf(codes.NotFound, "no method %s %s", r.Method, r.URL.Path))
}

// handleHealthz answers 200 "ok" while the process serves HTTP.
func (h *rest) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok\n")
}

// handleReadyz answers 200 "ok" when h.ready succeeds within readyTimeout,
// else 503. The reason is logged, not sent: it names internal addresses.
func (h *rest) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if h.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := h.ready(ctx); err != nil {
			h.logger.Warn("not ready", zap.Error(err))
			writeText(w, http.StatusServiceUnavailable, "not ready: the operation store does not answer\n")
			return
		}
	}
	writeText(w, http.StatusOK, "ok\n")
}

// writeText writes a short plain-text response.
func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, s)
}

// recoverPanics turns a panic in next into an INTERNAL answer and an error
// log entry instead of a dropped connection. http.ErrAbortHandler is passed
// on, as net/http expects.
func (h *rest) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // net/http compares the same way.
				panic(v)
			}
			h.logger.Error("handler panic", zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Any("panic", v), zap.Stack("stack"))
			h.writeError(w, r, fmt.Errorf("api: handler panic: %v", v))
		}()
		next.ServeHTTP(w, r)
	})
}
