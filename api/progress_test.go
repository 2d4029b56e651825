package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/folio-ocr/folio/progresspb"
	"github.com/folio-ocr/folio/rpcerr"
	"github.com/folio-ocr/folio/store"
)

// progressFunc asks for an operation's progress over one transport and
// returns the answer, or the error's code and message.
type progressFunc func(t *testing.T, name string) (*progresspb.OperationProgress, codes.Code, string)

// setupProgress serves b over transport and returns a progressFunc: REST
// through GET /v1/{name}:progress parsed with protojson, gRPC through the
// generated folio.v1.Progress client.
func setupProgress(t *testing.T, b *testBundle, transport string) progressFunc {
	t.Helper()
	switch transport {
	case "rest":
		srv := httptest.NewServer(b.handler(t))
		t.Cleanup(srv.Close)
		return func(t *testing.T, name string) (*progresspb.OperationProgress, codes.Code, string) {
			t.Helper()
			resp, err := http.Get(srv.URL + "/v1/" + name + ":progress")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				var e googleError
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatalf("status %d, body %s: %v", resp.StatusCode, body, err)
				}
				return nil, codeOf(e.Error.Status), e.Error.Message
			}
			p := &progresspb.OperationProgress{}
			if err := protojson.Unmarshal(body, p); err != nil { // strict: every field known
				t.Fatalf("parse %s: %v", body, err)
			}
			return p, codes.OK, ""
		}
	case "grpc":
		c := progresspb.NewProgressClient(b.grpcConn(t))
		return func(t *testing.T, name string) (*progresspb.OperationProgress, codes.Code, string) {
			t.Helper()
			p, err := c.GetProgress(context.Background(), &progresspb.GetProgressRequest{Name: name})
			st := status.Convert(err)
			return p, st.Code(), st.Message()
		}
	}
	t.Fatalf("unknown transport %q", transport)
	return nil
}

// codeOf returns the code named name ("NOT_FOUND"), or Unknown.
func codeOf(name string) codes.Code {
	for c := range codes.Unauthenticated + 1 {
		if rpcerr.Name(c) == name {
			return c
		}
	}
	return codes.Unknown
}

// TestProgress follows an operation through the worker's store calls and
// checks the progress both transports report at each step.
func TestProgress(t *testing.T) { forEachTransport(t, testProgress) }

func testProgress(t *testing.T, transport string) {
	b := setup(t)
	get := setupProgress(t, b, transport)
	ctx := context.Background()
	s := b.service(t)
	req := validRequest()
	req.Parent = "projects/p/locations/eu"
	if _, err := s.AsyncBatchAnnotateFiles(ctx, req); err != nil {
		t.Fatal(err)
	}
	const id, name = "0000000000000001", "projects/p/locations/eu/operations/0000000000000001"
	ts := timestamppb.New
	files := func() []*progresspb.FileProgress {
		return []*progresspb.FileProgress{
			{InputUri: "gs://bucket/a.pdf", OutputUriPrefix: "gs://bucket/out/a/"},
			{InputUri: "gs://bucket/dir/b.pdf", OutputUriPrefix: "gs://bucket/out/b-"},
		}
	}
	check := func(step string, want *progresspb.OperationProgress) {
		t.Helper()
		for _, n := range []string{name, "operations/" + id, "projects/p/operations/" + id} {
			got, code, msg := get(t, n)
			if code != codes.OK {
				t.Fatalf("%s: progress of %s: %v %s", step, n, code, msg)
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("%s: progress of %s (-want +got):\n%s", step, n, diff)
			}
		}
	}

	want := &progresspb.OperationProgress{
		Name: name, State: progresspb.OperationProgress_CREATED, FilesTotal: 2,
		CreateTime: ts(testNow), UpdateTime: ts(testNow), Files: files(),
	}
	check("created", want)

	// The worker plans the first file (5 pages in ranges of 2) and writes
	// its first range, one page of which failed.
	r := func(f, a, b int) store.Range { return store.Range{File: f, First: a, Last: b} }
	if _, err := b.ops.PlanFile(ctx, id, 0, []store.Range{r(0, 1, 2), r(0, 3, 4), r(0, 5, 5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ops.CompleteRange(ctx, id, r(0, 1, 2), 1); err != nil {
		t.Fatal(err)
	}
	started, updated := testNow.Add(-10*time.Second), testNow.Add(-time.Second)
	op := b.ops.get(id) // a fixed clock for the rate
	op.StartTime, op.UpdateTime = started, updated
	b.ops.put(op)
	want = &progresspb.OperationProgress{
		Name: name, State: progresspb.OperationProgress_RUNNING, FilesTotal: 2, FilesPlanned: 1,
		PagesTotal: 5, PagesDone: 2, PagesFailed: 1,
		CreateTime: ts(testNow), StartTime: ts(started), UpdateTime: ts(updated),
		PagesPerSecond: 0.2, // 2 pages in the 10 s from the start to now
		Files:          files(),
	}
	want.Files[0].Planned, want.Files[0].PagesTotal, want.Files[0].PagesDone, want.Files[0].PagesFailed = true, 5, 2, 1
	want.Files[0].OutputsTotal = 3
	want.Files[0].Outputs = []*progresspb.OutputObject{
		{Uri: "gs://bucket/out/a/output-1-to-2.json", FirstPage: 1, LastPage: 2, PagesFailed: 1},
	}
	check("first range", want) // no ETA: the second file's pages are unknown

	// The second file is planned (3 pages); the last range of the first
	// is written: 3 of 8 pages in 10 s, so 5 pages left take 16.7 s.
	if _, err := b.ops.PlanFile(ctx, id, 1, []store.Range{r(1, 1, 2), r(1, 3, 3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ops.CompleteRange(ctx, id, r(0, 5, 5), 0); err != nil {
		t.Fatal(err)
	}
	op = b.ops.get(id)
	op.StartTime, op.UpdateTime = started, updated
	b.ops.put(op)
	want.FilesPlanned, want.PagesTotal, want.PagesDone = 2, 8, 3
	want.PagesPerSecond = 0.3
	want.Eta = durationpb.New(17 * time.Second)
	want.Files[0].PagesDone = 3
	want.Files[0].Outputs = append(want.Files[0].Outputs,
		&progresspb.OutputObject{Uri: "gs://bucket/out/a/output-5-to-5.json", FirstPage: 5, LastPage: 5})
	want.Files[1].Planned, want.Files[1].PagesTotal, want.Files[1].OutputsTotal = true, 3, 2
	check("second file planned", want)

	// Everything written: done, no ETA, the rate up to the last update.
	for _, rg := range []store.Range{r(0, 3, 4), r(1, 1, 2), r(1, 3, 3)} {
		if _, err := b.ops.CompleteRange(ctx, id, rg, 0); err != nil {
			t.Fatal(err)
		}
	}
	finishedAt := started.Add(4 * time.Second)
	op = b.ops.get(id)
	op.StartTime, op.UpdateTime = started, finishedAt
	b.ops.put(op)
	want.State, want.Done, want.UpdateTime, want.Eta = progresspb.OperationProgress_DONE, true, ts(finishedAt), nil
	want.PagesDone, want.PagesPerSecond = 8, 2 // 8 pages in 4 s
	want.Files[0].PagesDone, want.Files[1].PagesDone = 5, 3
	want.Files[0].Outputs = []*progresspb.OutputObject{want.Files[0].Outputs[0],
		{Uri: "gs://bucket/out/a/output-3-to-4.json", FirstPage: 3, LastPage: 4}, want.Files[0].Outputs[1]}
	want.Files[1].Outputs = []*progresspb.OutputObject{
		{Uri: "gs://bucket/out/b-output-1-to-2.json", FirstPage: 1, LastPage: 2},
		{Uri: "gs://bucket/out/b-output-3-to-3.json", FirstPage: 3, LastPage: 3},
	}
	check("done", want)

	// Unknown operations and names are NOT_FOUND.
	for _, n := range []string{"operations/ffffffffffffffff", "operations"} {
		if _, code, msg := get(t, n); code != codes.NotFound {
			t.Errorf("progress of %s: %v %s, want NOT_FOUND", n, code, msg)
		}
	}
}

// The REST route is GET only, and served under /v1p4beta1/ too.
func TestProgressRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if rec := b.serve(t, http.MethodPost, "/v1/files:asyncBatchAnnotate", camelBody); rec.Code != http.StatusOK {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{"/v1/operations/0000000000000001:progress", "/v1p4beta1/operations/0000000000000001:progress",
		"/v1/locations/eu/operations/0000000000000001:progress"} {
		rec := b.serve(t, http.MethodGet, path, "")
		p := &progresspb.OperationProgress{}
		if err := protojson.Unmarshal(rec.Body.Bytes(), p); rec.Code != http.StatusOK || err != nil || p.GetFilesTotal() != 1 {
			t.Errorf("GET %s: %d %s (%v)", path, rec.Code, rec.Body, err)
		}
	}
	parseError(t, b.serve(t, http.MethodPost, "/v1/operations/0000000000000001:progress", ""), http.StatusNotFound, "NOT_FOUND")
	// The JSON is lowerCamel, enums by name.
	rec := b.serve(t, http.MethodGet, "/v1/operations/0000000000000001:progress", "")
	var fields map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "state", "filesTotal", "createTime", "files"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("progress JSON %s lacks %q", rec.Body, k)
		}
	}
	if fields["state"] != "CREATED" {
		t.Errorf("state = %v, want \"CREATED\"", fields["state"])
	}
}

// The progress states are Vision's OperationMetadata states, name for
// name and number for number, so progressProto converts by number.
func TestProgressStates(t *testing.T) {
	t.Parallel()
	vs := visionpb.OperationMetadata_State(0).Descriptor().Values()
	ps := progresspb.OperationProgress_State(0).Descriptor().Values()
	if vs.Len() != ps.Len() {
		t.Fatalf("%d Vision states, %d progress states", vs.Len(), ps.Len())
	}
	for i := range vs.Len() {
		v := vs.Get(i)
		if p := ps.ByNumber(v.Number()); p == nil || p.Name() != v.Name() {
			t.Errorf("Vision state %s = %d, progress state %v", v.Name(), v.Number(), p)
		}
	}
}

// progressProto's estimates: no rate before a page is done or before the
// operation started; no ETA once it is finished, and an ETA rounded up to
// the second; ranges of files the request does not have are ignored.
func TestProgressProtoEstimates(t *testing.T) {
	t.Parallel()
	now := testNow
	op := func(state visionpb.OperationMetadata_State, start time.Time) *store.Operation {
		return &store.Operation{ID: "1", Name: "operations/1", State: state, Done: state == visionpb.OperationMetadata_CANCELLED,
			CreateTime: now.Add(-time.Hour), UpdateTime: now.Add(-time.Minute), StartTime: start, Request: validRequest()}
	}
	r := func(f, a, b int, done bool) store.RangeProgress {
		return store.RangeProgress{Range: store.Range{File: f, First: a, Last: b}, Done: done}
	}
	tests := []struct {
		name  string
		p     *store.Progress
		rate  float64
		eta   *durationpb.Duration
		total int32
	}{
		{"nothing done", &store.Progress{Operation: op(visionpb.OperationMetadata_RUNNING, now.Add(-time.Minute)),
			Planned: []int{0, 1}, Ranges: []store.RangeProgress{r(0, 1, 2, false), r(1, 1, 1, false)}}, 0, nil, 3},
		{"half done", &store.Progress{Operation: op(visionpb.OperationMetadata_RUNNING, now.Add(-time.Minute)),
			Planned: []int{0, 1}, Ranges: []store.RangeProgress{r(0, 1, 2, true), r(1, 1, 2, false), r(7, 1, 9, true)}},
			2.0 / 60, durationpb.New(time.Minute), 4}, // file 7 is not in the request
		{"one page left", &store.Progress{Operation: op(visionpb.OperationMetadata_RUNNING, now.Add(-time.Minute)),
			Planned: []int{0, 1}, Ranges: []store.RangeProgress{r(0, 1, 119, true), r(1, 1, 1, false)}},
			119.0 / 60, durationpb.New(time.Second), 120}, // 0.5 s, rounded up
		{"cancelled", &store.Progress{Operation: op(visionpb.OperationMetadata_CANCELLED, now.Add(-2*time.Minute)),
			Planned: []int{0, 1}, Ranges: []store.RangeProgress{r(0, 1, 2, true), r(1, 1, 2, false)}},
			2.0 / 60, nil, 4}, // 2 pages between the start and the last update
		{"no start time", &store.Progress{Operation: op(visionpb.OperationMetadata_RUNNING, time.Time{}),
			Planned: []int{0, 1}, Ranges: []store.RangeProgress{r(0, 1, 2, true), r(1, 1, 2, false)}}, 0, nil, 4},
	}
	for _, tt := range tests {
		got := progressProto(tt.p, now)
		if got.GetPagesPerSecond() != tt.rate {
			t.Errorf("%s: pages/s %v, want %v", tt.name, got.GetPagesPerSecond(), tt.rate)
		}
		if diff := cmp.Diff(tt.eta, got.GetEta(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: ETA (-want +got):\n%s", tt.name, diff)
		}
		if got.GetPagesTotal() != tt.total {
			t.Errorf("%s: %d pages total, want %d", tt.name, got.GetPagesTotal(), tt.total)
		}
	}
}

// A file that failed as a whole (FILE_ERRORS=continue) carries its error;
// the others none, and an index outside the request is ignored.
func TestProgressFileError(t *testing.T) {
	t.Parallel()
	p := &store.Progress{
		Operation: &store.Operation{ID: "1", Name: "operations/1", State: visionpb.OperationMetadata_RUNNING,
			CreateTime: testNow, UpdateTime: testNow, Request: validRequest()},
		Planned:    []int{0, 1},
		FileErrors: map[int]store.FileError{1: {Code: 3, Message: "gs://bucket/dir/b.pdf: truncated"}, 9: {Code: 5}},
	}
	got := progressProto(p, testNow)
	if e := got.GetFiles()[0].GetError(); e != nil {
		t.Errorf("file 0 error = %v, want none", e)
	}
	if e := got.GetFiles()[1].GetError(); e.GetCode() != 3 || e.GetMessage() != "gs://bucket/dir/b.pdf: truncated" {
		t.Errorf("file 1 error = %v", e)
	}
}
