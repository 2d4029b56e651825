package api

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/folio-ocr/folio/metrics"
)

// Every REST call that names a method is counted under its gRPC method
// name with the google.rpc code it was answered with; an unknown path is
// "unknown"; the health probes are not counted.
func TestRESTMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewPedanticRegistry()
	h := NewHandler(b.service(t), &HTTPOptions{MaxRequestBytes: 4096, Metrics: metrics.NewAPI(reg)})
	serve := func(method, target, body string) int {
		req, _ := http.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	putOperation(b, "00000000000000aa", "operations/00000000000000aa", "v1", visionpb.OperationMetadata_RUNNING)
	for _, c := range []struct {
		method, target, body string
		status               int
	}{
		{http.MethodPost, "/v1/files:asyncBatchAnnotate", camelBody, 200},
		{http.MethodPost, "/v1/projects/p/files:asyncBatchAnnotate", `{"requests":[]}`, 400},
		{http.MethodGet, "/v1/operations/00000000000000aa", "", 200},
		{http.MethodGet, "/v1/operations/00000000000000aa" + goClientQuery, "", 200},
		{http.MethodGet, "/v1/operations/00000000000000ff", "", 404},
		{http.MethodGet, "/v1/operations/00000000000000aa:progress", "", 200},
		{http.MethodPost, "/v1/operations/00000000000000aa:cancel", "", 200},
		{http.MethodGet, "/v1/operations", "", 200},
		{http.MethodDelete, "/v1/operations/00000000000000aa", "", 200},
		{http.MethodGet, "/v2/nothing", "", 404},
		{http.MethodGet, "/healthz", "", 200},
		{http.MethodGet, "/readyz", "", 200},
	} {
		if got := serve(c.method, c.target, c.body); got != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.target, got, c.status)
		}
	}
	want := `
# HELP folio_api_requests_total Calls answered, by transport (rest, grpc), method (gRPC method name; unknown for a REST path that names none) and google.rpc code.
# TYPE folio_api_requests_total counter
folio_api_requests_total{code="INVALID_ARGUMENT",method="AsyncBatchAnnotateFiles",transport="rest"} 1
folio_api_requests_total{code="NOT_FOUND",method="GetOperation",transport="rest"} 1
folio_api_requests_total{code="NOT_FOUND",method="unknown",transport="rest"} 1
folio_api_requests_total{code="OK",method="AsyncBatchAnnotateFiles",transport="rest"} 1
folio_api_requests_total{code="OK",method="CancelOperation",transport="rest"} 1
folio_api_requests_total{code="OK",method="DeleteOperation",transport="rest"} 1
folio_api_requests_total{code="OK",method="GetOperation",transport="rest"} 2
folio_api_requests_total{code="OK",method="GetProgress",transport="rest"} 1
folio_api_requests_total{code="OK",method="ListOperations",transport="rest"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "folio_api_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "folio_api_request_duration_seconds"); n != 7 {
		t.Errorf("latency series = %d, want 7 (one per method)", n)
	}
}

// gRPC calls are counted with the code the client receives; the health
// service is not.
func TestGRPCMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewPedanticRegistry()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := NewGRPCServer(b.service(t), &GRPCOptions{Metrics: metrics.NewAPI(reg)})
	done := make(chan error, 1)
	go func() { done <- gs.Serve(ln) }()
	t.Cleanup(func() {
		gs.Shutdown(context.Background())
		<-done
	})
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx := context.Background()
	if _, err := visionpb.NewImageAnnotatorClient(conn).AsyncBatchAnnotateFiles(ctx, validRequest()); err != nil {
		t.Fatal(err)
	}
	_, err = longrunningpb.NewOperationsClient(conn).GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/00000000000000ff"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("GetOperation of a missing operation: %v, want NOT_FOUND", err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP folio_api_requests_total Calls answered, by transport (rest, grpc), method (gRPC method name; unknown for a REST path that names none) and google.rpc code.
# TYPE folio_api_requests_total counter
folio_api_requests_total{code="NOT_FOUND",method="GetOperation",transport="grpc"} 1
folio_api_requests_total{code="OK",method="AsyncBatchAnnotateFiles",transport="grpc"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "folio_api_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "folio_api_request_duration_seconds"); n != 2 {
		t.Errorf("latency series = %d, want 2", n)
	}
}
