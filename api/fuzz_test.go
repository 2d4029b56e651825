package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ocr/folio/internal/cli/objects"
	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// The fuzz targets of the REST surface's parsers: request bodies
// (FuzzRequestJSON, and every route at once in FuzzRESTHandler), the
// operations.list filter (FuzzParseFilter), operation names in URLs
// (FuzzOperationName), the Idempotency-Key header (FuzzIdempotencyKey)
// and gs:// URIs (FuzzGCSURI). Their corpora are in testdata/fuzz/.

// internalDetail matches what must never reach a client unless the client
// sent it: pointers, source positions, goroutine dumps, loopback and
// Redis addresses.
var internalDetail = regexp.MustCompile(`0x[0-9a-f]{8,}|\.go:\d+|goroutine \d|127\.0\.0\.1|localhost:\d|redis://|\bdial tcp\b`)

// checkPublicMessage fails when msg carries an internal detail that none
// of the client's inputs carried.
func checkPublicMessage(t *testing.T, msg string, inputs ...string) {
	t.Helper()
	for _, m := range internalDetail.FindAllString(msg, -1) {
		if !strings.Contains(strings.Join(inputs, "\x00"), m) {
			t.Fatalf("message %q shows internal detail %q", msg, m)
		}
	}
}

// checkInvalidField fails unless err is INVALID_ARGUMENT whose BadRequest
// detail names field, with a message naming it too.
func checkInvalidField(t *testing.T, err error, field string) {
	t.Helper()
	pe := rpcerr.Public(err)
	if pe.Code != codes.InvalidArgument {
		t.Fatalf("error %v: code %v, want INVALID_ARGUMENT", err, pe.Code)
	}
	vs, ok := violations(err)
	if !ok || len(vs) == 0 {
		t.Fatalf("error %v: no BadRequest detail", err)
	}
	for _, v := range vs {
		if v.GetField() != field {
			t.Fatalf("error %v: violation of field %q, want %q", err, v.GetField(), field)
		}
	}
	if !strings.Contains(pe.Message, field) {
		t.Fatalf("message %q does not name %s", pe.Message, field)
	}
}

// requestKinds are the request messages a REST body is read into.
var requestKinds = []func() proto.Message{
	func() proto.Message { return &visionpb.AsyncBatchAnnotateFilesRequest{} },
	func() proto.Message { return &visionpb.BatchAnnotateFilesRequest{} },
	func() proto.Message { return &visionpb.BatchAnnotateImagesRequest{} },
	func() proto.Message { return &visionpb.AsyncBatchAnnotateImagesRequest{} },
	func() proto.Message { return &longrunningpb.CancelOperationRequest{} },
}

// fuzzMaxBody is the body limit of the fuzzed REST handler, small so that
// the fuzzer reaches it.
const fuzzMaxBody = 4096

// addBodySeeds adds the request bodies of Google's documentation and of
// Folio's tests, and near misses of them, through add.
func addBodySeeds(t testing.TB, add func(kind uint8, body []byte)) {
	t.Helper()
	example, err := os.ReadFile("../examples/request.json")
	if err != nil {
		t.Fatal(err)
	}
	m := func(kind uint8, msg proto.Message) {
		b, err := protojson.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		add(kind, b)
	}
	add(0, example)
	add(0, []byte(camelBody))
	add(0, []byte(snakeIntBody))
	m(0, validRequest())
	m(1, validFilesRequest())
	m(2, validImagesRequest())
	m(3, validAsyncImagesRequest())
	add(4, []byte(`{"name":"operations/0000000000000001"}`))
	add(0, []byte(`{"requests":[{"inputConfig":{"gcsSource":{"uri":"gs://b/in.tif"},"mimeType":"image/tiff"},`+
		`"features":[{"type":"DOCUMENT_TEXT_DETECTION","maxResults":5}],"imageContext":{"languageHints":["en","de-DE"]},`+
		`"outputConfig":{"gcsDestination":{"uri":"gs://b/out/"},"batchSize":100}}],"parent":"projects/p/locations/eu","labels":{"team":"ocr-1"}}`))
	add(2, []byte(`{"requests":[{"image":{"source":{"imageUri":"gs://b/a.png"}},"features":[{"type":"TEXT_DETECTION"}]}]}`))
	add(2, []byte(`{"requests":[{"image":{"content":"iVBORw0KGgo="},"features":[{"type":1}]}]}`))
	add(0, []byte(`{"requests":[{"inputConfig":{"content":"JVBERi0=","mimeType":"application/pdf"}}]}`))
	add(0, []byte(`{"requests":[{"unknownField":1}]}`))
	add(0, []byte(`{"requests":[{"features":[{"type":"NOT_A_FEATURE"}]}]}`))
	add(0, []byte(`{"requests":[{"outputConfig":{"batchSize":"12"}}]}`))
	add(0, []byte(`{"requests":[{"outputConfig":{"batchSize":1e40}}]}`))
	add(0, []byte(`{"requests":null}`))
	add(0, []byte(`{"requests":[null]}`))
	add(0, []byte(`{"requests":[{"inputConfig":{"gcsSource":{"uri":"gs://b/in.pdf"}}},`))
	add(0, []byte(`  `))
	add(0, []byte(`[]`))
	add(0, []byte("{\"parent\":\"projects/p\xff\"}"))
	add(0, bytes.Repeat([]byte(" "), fuzzMaxBody+1))
}

// FuzzRequestJSON reads bodies as the REST surface does, into every
// request message of both API versions. A body over the limit is the
// documented size error; any other failure is INVALID_ARGUMENT saying
// what is wrong with the JSON; a body that is read re-encodes to JSON
// that reads back to an equal message.
func FuzzRequestJSON(f *testing.F) {
	addBodySeeds(f, func(kind uint8, body []byte) {
		f.Add(kind, false, body)
		f.Add(kind, true, body)
	})
	h := &rest{maxBody: fuzzMaxBody}
	f.Fuzz(func(t *testing.T, kind uint8, beta bool, body []byte) {
		req := requestKinds[int(kind)%len(requestKinds)]()
		v := apiV1
		// :cancel reads its body as v1 under both versions (decodeBody).
		if _, cancel := req.(*longrunningpb.CancelOperationRequest); beta && !cancel {
			v = apiV1p4beta1
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		err := h.decodeVersioned(httptest.NewRecorder(), r, v, req)
		if len(body) > fuzzMaxBody {
			var me *http.MaxBytesError
			if !errors.As(err, &me) {
				t.Fatalf("%d-byte body over the %d limit: error %v", len(body), fuzzMaxBody, err)
			}
			if pe := rpcerr.Public(err); pe.Code != codes.InvalidArgument || !strings.Contains(pe.Message, "exceeds the limit") {
				t.Fatalf("oversized body answers %v %q", pe.Code, pe.Message)
			}
			return
		}
		if err != nil {
			var e *rpcerr.Error
			if !errors.As(err, &e) || e.Code != codes.InvalidArgument {
				t.Fatalf("error %v is not INVALID_ARGUMENT", err)
			}
			if !strings.HasPrefix(e.Message, "invalid JSON payload received: ") || strings.Contains(e.Message, "proto:") {
				t.Fatalf("message %q", e.Message)
			}
			checkPublicMessage(t, e.Message, string(body))
			return
		}
		out, err := protojson.Marshal(req)
		if err != nil {
			t.Fatalf("re-encode %s: %v", req.ProtoReflect().Descriptor().Name(), err)
		}
		again := req.ProtoReflect().New().Interface()
		if err := unmarshalBody(out, again); err != nil {
			t.Fatalf("re-read %s: %v", out, err)
		}
		// Fields the v1 message lacks stay unknown after the v1p4beta1
		// conversion; JSON carries no unknown fields.
		if !beta && !proto.Equal(req, again) {
			t.Fatalf("body %q read as %v, re-encoded as %s, read back as %v", body, req, out, again)
		}
		if out2, _ := protojson.Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("re-encoding is not stable:\n%s\n%s", out, out2)
		}
	})
}

// restRoutes are the method and path of every REST route, with the body
// kind they read (255 for none).
var restRoutes = []struct {
	method, path string
	kind         uint8
}{
	{"POST", "/v1/files:asyncBatchAnnotate", 0},
	{"POST", "/v1/projects/p/files:asyncBatchAnnotate", 0},
	{"POST", "/v1p4beta1/projects/p/locations/eu/files:asyncBatchAnnotate", 0},
	{"POST", "/v1/files:annotate", 1},
	{"POST", "/v1/images:annotate", 2},
	{"POST", "/v1/projects/p/locations/us/images:asyncBatchAnnotate", 3},
	{"POST", "/v1/operations/0000000000000001:cancel", 4},
	{"GET", "/v1/operations/0000000000000001", 255},
	{"GET", "/v1p4beta1/projects/p/operations/0000000000000001", 255},
	{"DELETE", "/v1/locations/eu/operations/0000000000000001", 255},
	{"GET", "/v1/operations/0000000000000001:progress", 255},
	{"GET", "/v1/operations", 255},
	{"GET", "/healthz", 255},
	{"PUT", "/v1/operations/x", 255},
}

// FuzzRESTHandler sends one request to the REST handler over in-memory
// fakes. Every answer is 200, a redirect of ServeMux, or Google's error
// envelope with a 4xx status (501 for the synchronous calls, which these
// fakes do not serve) and a public message; never a 5xx from a failure.
// An operation it creates can be read back by its name, carries the URL's
// parent, stores a request that validates, and a second submission with
// the same Idempotency-Key returns it again.
func FuzzRESTHandler(f *testing.F) {
	for _, r := range restRoutes {
		if r.kind == 255 {
			f.Add(r.method, r.path, "", []byte(nil), "")
			continue
		}
		addBodySeeds(f, func(kind uint8, body []byte) {
			if kind == r.kind {
				f.Add(r.method, r.path, "", body, "")
			}
		})
	}
	example, _ := protojson.Marshal(validRequest())
	f.Add("POST", "/v1/files:asyncBatchAnnotate", goClientQuery[1:], example, "retry-1")
	f.Add("POST", "/v1/projects/p/files:asyncBatchAnnotate", "", []byte(`{"parent":"projects/q"}`), "")
	f.Add("POST", "/v1/projects/./files:asyncBatchAnnotate", "", example, "")
	f.Add("POST", "/v1/files:asyncBatchAnnotate", "", example, "caf\u00e9")
	f.Add("GET", "/v1/operations", "pageSize=2&filter=done%3Dfalse+AND+state%3DCREATED", []byte(nil), "")
	f.Add("GET", "/v1/operations", "pageSize=x&pageToken=zz", []byte(nil), "")
	f.Add("GET", "/v1/operations", "filter=metadata.state:RUNNING", []byte(nil), "")
	f.Add("GET", "/v1/operations/0000000000000001:", "", []byte(nil), "")
	f.Add("GET", "/v1/projects/p:q/operations/1", "%24alt=json;enum-encoding=int", []byte(nil), "")
	f.Add("GET", "/v1//operations/1", "", []byte(nil), "")
	f.Add("POST", "/v1/operations/1:cancel", "", []byte(`{"name":"operations/2"}`), "")

	f.Fuzz(func(t *testing.T, method, path, query string, body []byte, key string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		ops := newFakeOps()
		n := 0
		s, err := New(Config{Ops: ops, Queue: &fakeQueue{}, Logger: zap.NewNop(),
			Now:   func() time.Time { return testNow },
			NewID: func() string { n++; return fmt.Sprintf("%016x", n) }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AsyncBatchAnnotateFiles(context.Background(), validRequest()); err != nil {
			t.Fatal(err)
		}
		h := NewHandler(s, &HTTPOptions{MaxRequestBytes: fuzzMaxBody})
		send := func() *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
			r.Method = method
			r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, "", query
			r.RequestURI = ""
			if key != "" {
				r.Header.Set(IdempotencyKeyHeader, key)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			return rec
		}
		rec := send()
		inputs := []string{method, path, query, string(body), key}

		switch st := rec.Code; {
		case st == http.StatusOK:
		case st >= 300 && st < 400:
			return // ServeMux cleaning the path
		case st >= 400 && st < 500 || st == http.StatusNotImplemented:
			var e googleError
			dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("%s %s: status %d, body %s: %v", method, path, st, rec.Body, err)
			}
			if e.Error.Code != st || e.Error.Message == "" || e.Error.Status == "" {
				t.Fatalf("%s %s: status %d, error %+v", method, path, st, e.Error)
			}
			checkPublicMessage(t, e.Error.Message, inputs...)
			for _, raw := range e.Error.Details {
				var d struct {
					Type            string `json:"@type"`
					FieldViolations []struct{ Field, Description string }
				}
				if err := json.Unmarshal(raw, &d); err != nil || !strings.HasPrefix(d.Type, "type.googleapis.com/google.rpc.") {
					t.Fatalf("detail %s: %v", raw, err)
				}
				for _, v := range d.FieldViolations {
					// The message names each field, at least by its
					// top-level name ("labels" as "label key ...").
					top, _, _ := strings.Cut(strings.TrimLeft(v.Field, "[."), "[")
					top, _, _ = strings.Cut(top, ".")
					if st != http.StatusBadRequest || top == "" || !strings.Contains(e.Error.Message, strings.TrimSuffix(top, "s")) {
						t.Fatalf("%d %q: violation %+v not named in the message", st, e.Error.Message, v)
					}
				}
			}
			return
		default:
			t.Fatalf("%s %s?%s: status %d: %s", method, path, query, st, rec.Body)
		}

		if method != http.MethodPost || !strings.HasSuffix(path, ":asyncBatchAnnotate") {
			if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: 200 with invalid JSON %s", method, path, rec.Body)
			}
			return
		}
		op := &longrunningpb.Operation{}
		if err := protojson.Unmarshal(rec.Body.Bytes(), op); err != nil {
			t.Fatalf("created operation %s: %v", rec.Body, err)
		}
		id, err := operationID(op.GetName())
		if err != nil {
			t.Fatalf("created operation %q: %v", op.GetName(), err)
		}
		if p := "/projects/"; strings.Contains(path, p) {
			project, _, _ := strings.Cut(path[strings.Index(path, p)+len(p):], "/")
			if !strings.HasPrefix(op.GetName(), "projects/"+project+"/") {
				t.Fatalf("operation %q created under %s", op.GetName(), path)
			}
		}
		stored, err := ops.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Request != nil {
			if err := validateRequest(stored.Request, nil); err != nil {
				t.Fatalf("stored request does not validate: %v", err)
			}
		} else if err := validateAsyncImagesRequest(stored.Images, nil); err != nil {
			t.Fatalf("stored request does not validate: %v", err)
		}
		get := httptest.NewRecorder()
		h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/v1/"+op.GetName(), nil))
		if got := parseOperation(t, get); got.GetName() != op.GetName() {
			t.Fatalf("GET %s answers %s", op.GetName(), got.GetName())
		}
		if key != "" {
			again := send()
			if again.Code != http.StatusOK {
				t.Fatalf("second submission with key %q: %d %s", key, again.Code, again.Body)
			}
			if got := parseOperation(t, again); got.GetName() != op.GetName() {
				t.Fatalf("second submission with key %q created %s, want %s", key, got.GetName(), op.GetName())
			}
		}
	})
}

// renderFilter writes f in the canonical filter syntax.
func renderFilter(f store.ListFilter) string {
	var terms []string
	if f.Done != nil {
		terms = append(terms, fmt.Sprintf("done=%t", *f.Done))
	}
	for _, s := range f.States {
		terms = append(terms, "state="+s.String())
	}
	return strings.Join(terms, " AND ")
}

// filterProbes are operations of every state and completion.
func filterProbes() []*store.Operation {
	var out []*store.Operation
	for s := range int32(5) {
		for _, done := range []bool{false, true} {
			for _, code := range []int32{0, 3} {
				out = append(out, &store.Operation{State: store.State(s), Done: done, ErrorCode: code})
			}
		}
	}
	return out
}

// FuzzParseFilter parses operations.list filters. A filter that parses
// renders canonically to one that parses to the same ListFilter, and
// selects what the AND of its terms selects; one that does not is
// INVALID_ARGUMENT naming the filter field.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"", "done=true", "done=false", "state=RUNNING", "metadata.state=DONE", "state:cancelled",
		"done = true AND state = CREATED", "done=1 AND metadata.state:running", "done=true AND done=false",
		"state=RUNNING AND state=DONE", "state=STATE_UNSPECIFIED", "state=7", "name=operations/1",
		"done", "done=maybe", "done=true AND", " AND ", "done=true and state=DONE", "state=RUNNING OR state=DONE",
		"done=true AND done=true", "labels.team=ocr",
	} {
		f.Add(s)
	}
	probes := filterProbes()
	f.Fuzz(func(t *testing.T, s string) {
		lf, err := parseFilter(s)
		if err != nil {
			checkInvalidField(t, err, "filter")
			checkPublicMessage(t, rpcerr.Public(err).Message, s)
			return
		}
		canon := renderFilter(lf)
		again, err := parseFilter(canon)
		if err != nil {
			t.Fatalf("%q parses as %+v, rendered %q, which fails: %v", s, lf, canon, err)
		}
		if renderFilter(again) != canon {
			t.Fatalf("%q parses as %q, which parses as %q", s, canon, renderFilter(again))
		}
		colon, err := parseFilter(strings.ReplaceAll(canon, "=", ":"))
		if err != nil || renderFilter(colon) != canon {
			t.Fatalf("%q with ':' for '=' parses as %+v, %v", canon, colon, err)
		}
		if strings.TrimSpace(s) == "" {
			if !lf.IsZero() {
				t.Fatalf("blank filter %q selects %+v", s, lf)
			}
			return
		}
		var terms []store.ListFilter
		for _, term := range strings.Split(s, " AND ") {
			tf, err := parseFilter(term)
			if err != nil || tf.IsZero() {
				t.Fatalf("filter %q parses but its term %q gives %+v, %v", s, term, tf, err)
			}
			terms = append(terms, tf)
		}
		for _, op := range probes {
			all := true
			for _, tf := range terms {
				all = all && tf.Match(op)
			}
			if lf.Match(op) != all || again.Match(op) != all {
				t.Fatalf("filter %q selects %+v: %t; its terms: %t", s, op, lf.Match(op), all)
			}
		}
	})
}

// FuzzOperationName parses operation names and parents as URLs carry
// them. A name is accepted in one of its four forms, its id being the
// last segment; any other is NOT_FOUND. splitVerb gives back the path it
// split, and the name a submission builds from a valid parent and id is
// accepted.
func FuzzOperationName(f *testing.F) {
	for _, s := range []string{
		"operations/0123456789abcdef", "projects/p/operations/1", "locations/eu/operations/1",
		"projects/example.com:p/locations/us-central1/operations/1:cancel", "operations/1:progress",
		"operations", "operations/", "operations/..", "operations/a/b", "projects/p/operations/1/x",
		"operations/{id}", "operations/a b", "operations/\u00e9", "operations/1:cancel:cancel", ":cancel",
	} {
		f.Add(s, "projects/p", "0123456789abcdef")
	}
	f.Add("operations/1", "projects/p/locations/l", "1")
	f.Add("x", "projects/a:b", "id:x")
	f.Add("x", "projects//locations/l", "id")
	f.Fuzz(func(t *testing.T, name, parent, id string) {
		got, err := operationID(name)
		if err != nil {
			if c := rpcerr.Public(err).Code; c != codes.NotFound {
				t.Fatalf("operationID(%q): %v is %v, want NOT_FOUND", name, err, c)
			}
			checkPublicMessage(t, rpcerr.Public(err).Message, name)
		} else {
			seg := strings.Split(name, "/")
			if got != seg[len(seg)-1] || !validSegment(got) || seg[len(seg)-2] != "operations" {
				t.Fatalf("operationID(%q) = %q", name, got)
			}
		}

		if n, verb, ok := splitVerb(name); ok {
			if _, err := operationID(n); err != nil {
				t.Fatalf("splitVerb(%q) gives name %q: %v", name, n, err)
			}
			joined := n
			if verb != "" {
				joined += ":" + verb
			}
			if joined != name {
				t.Fatalf("splitVerb(%q) = %q, %q: the path is not name[:verb]", name, n, verb)
			}
		}

		p, l, ok := parseParent(parent)
		if ok {
			back := "projects/" + p
			if l != "" {
				back += "/locations/" + l
			}
			if back != parent {
				t.Fatalf("parseParent(%q) = %q, %q", parent, p, l)
			}
		}
		if ok && validSegment(id) && !strings.Contains(id, ":") {
			full := parent + "/operations/" + id
			if got, err := operationID(full); err != nil || got != id {
				t.Fatalf("operationID(%q) = %q, %v; want %q", full, got, err, id)
			}
			if n, verb, ok := splitVerb(full + ":cancel"); !ok || n != full || verb != "cancel" {
				t.Fatalf("splitVerb(%q:cancel) = %q, %q, %t", full, n, verb, ok)
			}
		}
	})
}

// FuzzIdempotencyKey checks the Idempotency-Key rule: one value of 1 to
// MaxIdempotencyKeyLen printable ASCII characters is the key; anything
// else is INVALID_ARGUMENT naming the header.
func FuzzIdempotencyKey(f *testing.F) {
	for _, k := range []string{
		"", "a", "folio-" + strings.Repeat("0f", 32), "key with spaces ~!", strings.Repeat("k", MaxIdempotencyKeyLen),
		strings.Repeat("k", MaxIdempotencyKeyLen+1), "tab\there", "caf\u00e9", "nul\x00", "\x7f",
	} {
		f.Add(k, false)
	}
	f.Add("same", true)
	f.Fuzz(func(t *testing.T, key string, twice bool) {
		values := []string{key}
		if twice {
			values = append(values, key)
		}
		got, err := idempotencyKey(withIdempotencyKeys(context.Background(), values))
		valid := !twice && len(key) >= 1 && len(key) <= MaxIdempotencyKeyLen
		for i := 0; i < len(key); i++ {
			valid = valid && key[i] >= 0x20 && key[i] <= 0x7e
		}
		if valid {
			if err != nil || got != key {
				t.Fatalf("key %q: %q, %v", key, got, err)
			}
			return
		}
		pe := rpcerr.Public(err)
		if err == nil || pe.Code != codes.InvalidArgument || !strings.Contains(pe.Message, IdempotencyKeyHeader) {
			t.Fatalf("key %q (twice %t): %q, %v", key, twice, got, err)
		}
	})
}

// FuzzGCSURI parses gs:// URIs as requests carry them. An accepted URI is
// "gs://" + bucket + "/" + object again, its bucket a valid name; the
// worker (store.ParseURI) and the CLI (objects.SplitURI) read an accepted
// object URI the same way, and the output names built from an accepted
// prefix are object URIs in the same bucket.
func FuzzGCSURI(f *testing.F) {
	for _, s := range []string{
		"gs://folio-demo/in/sample.pdf", "gs://bucket/out/", "gs://bucket/", "gs://bucket", "gs://b/a b/c.pdf",
		"gs:///object", "gs://-bucket/o", "gs://bucket-/o", "gs://bu_ck.et/o", "gs://bucket//double", "gs://b/\u00e9.tif",
		"https://storage.googleapis.com/b/o", "GS://b/o", "gs://b?x/o", "gs://" + strings.Repeat("b", 223) + "/o", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		b, p, ok := splitGCSPrefix(uri)
		if ok {
			if "gs://"+b+"/"+p != uri || !validBucket(b) || strings.Contains(b, "/") {
				t.Fatalf("splitGCSPrefix(%q) = %q, %q", uri, b, p)
			}
			out := pipeline.OutputName(uri, pipeline.PageRange{First: 1, Last: 20})
			ob, oo, err := store.ParseURI(out)
			if err != nil || ob != b || oo != p+"output-1-to-20.json" {
				t.Fatalf("output %q of prefix %q reads as %q, %q, %v", out, uri, ob, oo, err)
			}
		}
		b2, o, ok2 := splitGCSURI(uri)
		if ok2 != (ok && p != "") || ok2 && (b2 != b || o != p) {
			t.Fatalf("splitGCSURI(%q) = %q, %q, %t; prefix %q, %q, %t", uri, b2, o, ok2, b, p, ok)
		}
		if !ok2 {
			return
		}
		if sb, so, err := store.ParseURI(uri); err != nil || sb != b2 || so != o {
			t.Fatalf("store.ParseURI(%q) = %q, %q, %v; the API accepted %q, %q", uri, sb, so, err, b2, o)
		}
		if cb, co, err := objects.SplitURI(uri); err != nil || cb != b2 || co != o {
			t.Fatalf("objects.SplitURI(%q) = %q, %q, %v; the API accepted %q, %q", uri, cb, co, err, b2, o)
		}
	})
}
