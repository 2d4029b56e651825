package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
	visionv1p4beta1 "google.golang.org/genproto/googleapis/cloud/vision/v1p4beta1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/folio-ocr/folio/lang"
	"github.com/folio-ocr/folio/store"
)

const (
	// defaultPageSize and maxPageSize bound operations.list; a larger
	// pageSize is lowered to maxPageSize (AIP-158).
	defaultPageSize = 100
	maxPageSize     = 1000
	// maxListFetches bounds the store pages one filtered list call reads
	// while filling a page.
	maxListFetches = 10
	// readyTimeout bounds the readiness probe.
	readyTimeout = 2 * time.Second
	// writeTimeout bounds the store and queue calls of one submission. They
	// run on a context detached from the client's, so that a client hanging
	// up between Create and EnqueueOperation does not strand a CREATED
	// operation that nothing will ever run.
	writeTimeout = 10 * time.Second
	// createAttempts is how many fresh ids a submission tries when the store
	// reports an id clash.
	createAttempts = 3
	// codeUnavailable is the google.rpc code recorded on an operation whose
	// work could not be queued.
	codeUnavailable = 14
)

// enqueuer queues the work of a new operation: one plan task per request
// file. It is satisfied by *jobs.Client.
type enqueuer interface {
	// EnqueueOperation queues op's work. Queueing the same operation twice
	// is not an error.
	EnqueueOperation(ctx context.Context, op *store.Operation) error
}

// deps is what the HTTP handlers need. Every field is required except
// maxBody, now and newID, which default to [defaultMaxRequestBytes],
// time.Now and [newOperationID], and models, which may be nil.
type deps struct {
	// ops stores operation state.
	ops store.Operations
	// enq queues the work of new operations.
	enq enqueuer
	// ready reports whether the service's backends answer (Redis PING);
	// /readyz calls it with a deadline of [readyTimeout].
	ready func(context.Context) error
	// logger receives one entry per failed request and per server-side
	// failure.
	logger *zap.Logger
	// maxBody is the largest request body accepted, in bytes.
	maxBody int64
	// now returns the current time; tests fix it.
	now func() time.Time
	// newID returns a fresh operation id: 16 lowercase hex digits.
	newID func() string
	// models are the Tesseract models installed on this host, which
	// language hints are checked against; nil (the api host has none, or
	// they are unknown) checks only that hints name known languages.
	models lang.Models
}

// newOperationID returns 16 random lowercase hex digits from crypto/rand,
// the shape of Google's operation ids.
func newOperationID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

// routes returns the API's HTTP handler:
//
//	POST   /{v1,v1p4beta1}[/projects/{p}[/locations/{l}]]/files:asyncBatchAnnotate
//	GET    /v1/{name}          name = [projects/{p}/][locations/{l}/]operations/{id}
//	POST   /v1/{name}:cancel
//	DELETE /v1/{name}
//	GET    /v1/operations      ?pageSize, pageToken, filter (done=true|false)
//	GET    /healthz, /readyz
//
// The operation routes are served under /v1p4beta1/ too. The synchronous and
// image methods answer UNIMPLEMENTED; any other path answers NOT_FOUND, all in
// Google's error shape. Standard system query parameters ($alt, key,
// prettyPrint, fields, ...) are ignored, except that enum-encoding=int in
// $alt makes responses carry enums as numbers, as Google's do.
func routes(d *deps) http.Handler {
	if d.maxBody <= 0 {
		d.maxBody = defaultMaxRequestBytes
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.newID == nil {
		d.newID = newOperationID
	}
	if d.logger == nil {
		d.logger = zap.NewNop()
	}

	mux := http.NewServeMux()
	for _, v := range []string{apiV1, apiV1p4beta1} {
		for _, parent := range []string{"", "/projects/{project}", "/projects/{project}/locations/{location}"} {
			prefix := "POST /" + v + parent
			mux.Handle(prefix+"/files:asyncBatchAnnotate", d.handleAnnotate(v))
			for _, m := range []string{"files:annotate", "images:annotate", "images:asyncBatchAnnotate"} {
				mux.Handle(prefix+"/"+m, d.handleUnimplemented(m))
			}
		}
		mux.Handle("/"+v+"/{name...}", http.HandlerFunc(d.handleOperations))
	}
	mux.HandleFunc("GET /healthz", d.handleHealthz)
	mux.HandleFunc("GET /readyz", d.handleReadyz)
	mux.HandleFunc("/", d.handleNotFound)

	// Google's clients escape the ';' in "$alt=json;enum-encoding=int", but
	// others send it raw; accept it without net/http's warning per request.
	return http.AllowQuerySemicolons(d.recoverPanics(mux))
}

// handleAnnotate returns the files:asyncBatchAnnotate handler of API version
// v. It validates the request, records the operation in state CREATED,
// queues its work and answers with the operation. The operation's name
// carries the parent from the URL or, failing that, from the body's parent
// field: projects/{p}[/locations/{l}]/operations/{id}, else
// operations/{id}. An invalid request answers INVALID_ARGUMENT and records
// nothing; a queue failure ends the operation with code 14 and answers
// UNAVAILABLE.
func (d *deps) handleAnnotate(v string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := d.decodeAnnotateRequest(w, r, v)
		if err != nil {
			d.writeError(w, r, err)
			return
		}
		parent, err := requestParent(r, req)
		if err != nil {
			d.writeError(w, r, err)
			return
		}
		if err := validateRequest(req, d.models); err != nil {
			d.writeError(w, r, err)
			return
		}

		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
		defer cancel()
		op, err := d.createOperation(ctx, v, parent, req)
		if err != nil {
			d.writeError(w, r, err)
			return
		}
		if err := d.enq.EnqueueOperation(ctx, op); err != nil {
			d.logger.Error("enqueue operation", zap.String("operation", op.Name), zap.Error(err))
			// A fresh deadline: the enqueue may have used up ctx's.
			fctx, fcancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
			defer fcancel()
			if _, ferr := d.ops.Fail(fctx, op.ID, codeUnavailable, "the operation could not be queued; submit it again"); ferr != nil {
				d.logger.Error("fail unqueued operation", zap.String("operation", op.Name), zap.Error(ferr))
			}
			d.writeError(w, r, &apiError{
				code:    codes.Unavailable,
				message: "the operation could not be queued; try again",
				err:     fmt.Errorf("api: enqueue operation %s: %w", op.Name, err),
			})
			return
		}
		d.logger.Info("operation created", zap.String("operation", op.Name),
			zap.String("api_version", v), zap.Int("files", len(req.GetRequests())))
		d.writeOperation(w, r, op)
	})
}

// decodeAnnotateRequest reads and parses the body of a files:asyncBatchAnnotate
// call of API version v. It accepts lowerCamel and snake_case names and enums
// as names or numbers; unknown fields are INVALID_ARGUMENT. A v1p4beta1 body
// is parsed as the v1p4beta1 message (no parent or labels) and converted to
// v1, which has the same field numbers.
func (d *deps) decodeAnnotateRequest(w http.ResponseWriter, r *http.Request, v string) (*visionpb.AsyncBatchAnnotateFilesRequest, error) {
	body, err := d.readBody(w, r)
	if err != nil {
		return nil, err
	}
	req := &visionpb.AsyncBatchAnnotateFilesRequest{}
	if v == apiV1 {
		if err := unmarshalBody(body, req); err != nil {
			return nil, err
		}
		return req, nil
	}
	beta := &visionv1p4beta1.AsyncBatchAnnotateFilesRequest{}
	if err := unmarshalBody(body, beta); err != nil {
		return nil, err
	}
	if err := convertProto(beta, req); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return req, nil
}

// readBody reads r's body, at most d.maxBody bytes; a longer body yields an
// error wrapping *http.MaxBytesError.
func (d *deps) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, d.maxBody))
	if err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return nil, fmt.Errorf("api: read request body: %w", err)
		}
		return nil, &apiError{code: codes.InvalidArgument, message: "could not read the request body", err: err}
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
		return &apiError{code: codes.InvalidArgument, message: "invalid JSON payload received: " + msg, err: err}
	}
	return nil
}

// requestParent returns the parent of a submission, "projects/{p}" or
// "projects/{p}/locations/{l}", or "" for none. It comes from the URL or
// the body's parent field; both may be set only if they agree.
func requestParent(r *http.Request, req *visionpb.AsyncBatchAnnotateFilesRequest) (string, error) {
	var fromPath string
	if p := r.PathValue("project"); p != "" {
		fromPath = "projects/" + p
		if l := r.PathValue("location"); l != "" {
			fromPath += "/locations/" + l
		}
		if _, _, ok := parseParent(fromPath); !ok {
			return "", errorf(codes.InvalidArgument, "the URL's parent must be projects/{project} or projects/{project}/locations/{location}, got %q", fromPath)
		}
	}
	fromBody := req.GetParent()
	switch {
	case fromBody == "":
		return fromPath, nil
	case fromPath != "" && fromBody != fromPath:
		return "", &validationError{violations: []fieldViolation{{
			field:       "parent",
			description: fmt.Sprintf("parent %q does not match the URL's parent %q", fromBody, fromPath),
		}}}
	default: // validateRequest checks its form.
		return fromBody, nil
	}
}

// createOperation records a new CREATED operation for req under parent,
// retrying with a fresh id if the store reports a clash.
func (d *deps) createOperation(ctx context.Context, v, parent string, req *visionpb.AsyncBatchAnnotateFilesRequest) (*store.Operation, error) {
	now := d.now().UTC()
	var err error
	for range createAttempts {
		id := d.newID()
		name := "operations/" + id
		if parent != "" {
			name = parent + "/" + name
		}
		op := &store.Operation{
			ID:         id,
			Name:       name,
			APIVersion: v,
			State:      visionpb.OperationMetadata_CREATED,
			CreateTime: now,
			UpdateTime: now,
			Request:    req,
		}
		if err = d.ops.Create(ctx, op); err == nil {
			return op, nil
		}
		if !errors.Is(err, store.ErrAlreadyExists) {
			break
		}
	}
	return nil, fmt.Errorf("api: create operation: %w", err)
}

// handleOperations serves the operations API under /v1/ and /v1p4beta1/:
// get, list, cancel and delete. The path after the version is parsed here
// because a name may end in ":cancel", which ServeMux patterns cannot split.
func (d *deps) handleOperations(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("name")
	if rest == "operations" {
		if r.Method != http.MethodGet {
			d.handleNotFound(w, r)
			return
		}
		d.listOperations(w, r)
		return
	}
	name, id, verb, ok := parseOperationPath(rest)
	switch {
	case !ok:
		d.handleNotFound(w, r)
	case verb == "" && r.Method == http.MethodGet:
		d.getOperation(w, r, name, id)
	case verb == "" && r.Method == http.MethodDelete:
		d.deleteOperation(w, r, name, id)
	case verb == "cancel" && r.Method == http.MethodPost:
		d.cancelOperation(w, r, name, id)
	default:
		d.handleNotFound(w, r)
	}
}

// parseOperationPath splits an operation path, "{name}" or "{name}:{verb}",
// where name is operations/{id}, locations/{l}/operations/{id},
// projects/{p}/operations/{id} or projects/{p}/locations/{l}/operations/{id}.
func parseOperationPath(path string) (name, id, verb string, ok bool) {
	name = path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		if j := strings.LastIndexByte(path[i:], ':'); j >= 0 {
			name, verb = path[:i+j], path[i+j+1:]
		}
	}
	seg := strings.Split(name, "/")
	for _, s := range seg {
		if !validSegment(s) {
			return "", "", "", false
		}
	}
	switch n := len(seg); {
	case n == 2 && seg[0] == "operations":
	case n == 4 && seg[0] == "locations" && seg[2] == "operations":
	case n == 4 && seg[0] == "projects" && seg[2] == "operations":
	case n == 6 && seg[0] == "projects" && seg[2] == "locations" && seg[4] == "operations":
	default:
		return "", "", "", false
	}
	if strings.ContainsRune(seg[len(seg)-1], ':') {
		return "", "", "", false
	}
	return name, seg[len(seg)-1], verb, true
}

// notFound returns the error for an unknown operation, or err itself.
func notFound(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return &apiError{code: codes.NotFound, message: fmt.Sprintf("operation %s not found", name), err: err}
	}
	return fmt.Errorf("api: operation %s: %w", name, err)
}

// getOperation answers GET /v1/{name}. The operation is looked up by id, so
// every name form of it resolves; the answer carries the stored name.
func (d *deps) getOperation(w http.ResponseWriter, r *http.Request, name, id string) {
	op, err := d.ops.Get(r.Context(), id)
	if err != nil {
		d.writeError(w, r, notFound(name, err))
		return
	}
	d.writeOperation(w, r, op)
}

// cancelOperation answers POST /v1/{name}:cancel with {}. Its body is empty
// or a CancelOperationRequest. Cancelling a finished operation is a no-op.
func (d *deps) cancelOperation(w http.ResponseWriter, r *http.Request, name, id string) {
	body, err := d.readBody(w, r)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	creq := &longrunningpb.CancelOperationRequest{}
	if err := unmarshalBody(body, creq); err != nil {
		d.writeError(w, r, err)
		return
	}
	if n := creq.GetName(); n != "" && n != name {
		d.writeError(w, r, errorf(codes.InvalidArgument, "name %q in the body does not match the URL's %q", n, name))
		return
	}
	cancelled, err := d.ops.Cancel(r.Context(), id)
	if err != nil {
		d.writeError(w, r, notFound(name, err))
		return
	}
	d.logger.Info("operation cancel", zap.String("operation", name), zap.Bool("cancelled", cancelled))
	d.writeProto(w, r, &emptypb.Empty{})
}

// deleteOperation answers DELETE /v1/{name} with {}.
func (d *deps) deleteOperation(w http.ResponseWriter, r *http.Request, name, id string) {
	if err := d.ops.Delete(r.Context(), id); err != nil {
		d.writeError(w, r, notFound(name, err))
		return
	}
	d.logger.Info("operation deleted", zap.String("operation", name))
	d.writeProto(w, r, &emptypb.Empty{})
}

// listOperations answers GET /v1/operations with a ListOperationsResponse,
// newest first. pageSize defaults to 100 and is capped at 1000; pageToken
// is the previous answer's nextPageToken; filter is empty, "done=true" or
// "done=false". With a filter a page may hold fewer than pageSize
// operations while nextPageToken is still set.
func (d *deps) listOperations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := defaultPageSize
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			d.writeError(w, r, errorf(codes.InvalidArgument, "pageSize must be an integer, got %q", s))
			return
		case n < 0:
			d.writeError(w, r, errorf(codes.InvalidArgument, "pageSize must not be negative, got %d", n))
			return
		case n > maxPageSize:
			size = maxPageSize
		case n > 0:
			size = n
		}
	}
	keep, err := parseFilter(q.Get("filter"))
	if err != nil {
		d.writeError(w, r, err)
		return
	}

	resp := &longrunningpb.ListOperationsResponse{}
	token := q.Get("pageToken")
	for i := 0; i < maxListFetches; i++ {
		ops, next, err := d.ops.List(r.Context(), size-len(resp.Operations), token)
		if err != nil {
			d.writeError(w, r, fmt.Errorf("api: list operations: %w", err))
			return
		}
		for _, op := range ops {
			if !keep(op) {
				continue
			}
			p, err := toProto(op)
			if err != nil { // One bad record must not hide the others.
				d.logger.Error("convert listed operation", zap.String("operation", op.Name), zap.Error(err))
				continue
			}
			resp.Operations = append(resp.Operations, p)
		}
		token = next
		if token == "" || len(resp.Operations) >= size {
			break
		}
	}
	resp.NextPageToken = token
	d.writeProto(w, r, resp)
}

// parseFilter returns the predicate of an operations.list filter: "" keeps
// everything, "done=true" and "done=false" (spaces allowed, ':' for '='
// too) select by completion; anything else is INVALID_ARGUMENT.
func parseFilter(f string) (func(*store.Operation) bool, error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return func(*store.Operation) bool { return true }, nil
	}
	key, val, ok := strings.Cut(f, "=")
	if !ok {
		key, val, ok = strings.Cut(f, ":")
	}
	if ok && strings.TrimSpace(key) == "done" {
		if want, err := strconv.ParseBool(strings.TrimSpace(val)); err == nil {
			return func(op *store.Operation) bool { return isDone(op) == want }, nil
		}
	}
	return nil, errorf(codes.InvalidArgument, "filter %q is not supported; use done=true or done=false", f)
}

// isDone reports whether op is finished, as toProto's done field says.
func isDone(op *store.Operation) bool {
	return op.Done || op.ErrorCode != 0 ||
		op.State == visionpb.OperationMetadata_DONE || op.State == visionpb.OperationMetadata_CANCELLED
}

// writeOperation answers with op as a google.longrunning.Operation.
func (d *deps) writeOperation(w http.ResponseWriter, r *http.Request, op *store.Operation) {
	p, err := toProto(op)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	d.writeProto(w, r, p)
}

// writeProto answers with m as compact protojson; enums are names unless the
// request asked for enum-encoding=int.
func (d *deps) writeProto(w http.ResponseWriter, r *http.Request, m proto.Message) {
	b, err := protojson.MarshalOptions{UseEnumNumbers: wantsEnumNumbers(r)}.Marshal(m)
	if err != nil {
		d.writeError(w, r, fmt.Errorf("api: marshal response: %w", err))
		return
	}
	// protojson varies its whitespace on purpose; answer the same bytes
	// every time.
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		d.writeError(w, r, fmt.Errorf("api: compact response: %w", err))
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

// handleUnimplemented returns the handler of a Vision method Folio does not
// serve (yet): UNIMPLEMENTED naming the method.
func (d *deps) handleUnimplemented(method string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.writeError(w, r, errorf(codes.Unimplemented, "%s is not implemented by Folio; use files:asyncBatchAnnotate", method))
	})
}

// handleNotFound answers any unknown method or path with NOT_FOUND.
func (d *deps) handleNotFound(w http.ResponseWriter, r *http.Request) {
	d.writeError(w, r, errorf(codes.NotFound, "no method %s %s", r.Method, r.URL.Path))
}

// handleHealthz answers 200 "ok" while the process serves HTTP.
func (d *deps) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok\n")
}

// handleReadyz answers 200 "ok" when d.ready succeeds within readyTimeout,
// else 503 with the reason.
func (d *deps) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if d.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := d.ready(ctx); err != nil {
			d.logger.Warn("not ready", zap.Error(err))
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
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
func (d *deps) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // net/http compares the same way.
				panic(v)
			}
			d.logger.Error("handler panic", zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Any("panic", v), zap.Stack("stack"))
			d.writeError(w, r, fmt.Errorf("api: handler panic: %v", v))
		}()
		next.ServeHTTP(w, r)
	})
}
