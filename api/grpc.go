package api

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"go.uber.org/zap"
	visionv1p4beta1 "google.golang.org/genproto/googleapis/cloud/vision/v1p4beta1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	"github.com/folio-ocr/folio/auth"
	"github.com/folio-ocr/folio/metrics"
	"github.com/folio-ocr/folio/rpcerr"
)

// healthInterval is how often the gRPC health service asks Ready.
const healthInterval = 5 * time.Second

// GRPCOptions configures [NewGRPCServer]. The zero value is usable.
type GRPCOptions struct {
	// Ready reports whether the service's backends answer; the gRPC health
	// service reports SERVING while it does. If nil, always SERVING.
	Ready func(context.Context) error
	// MaxRecvBytes is the largest request message accepted. If zero,
	// DefaultMaxRequestBytes.
	MaxRecvBytes int
	// Metrics records every call of Folio's services (method, code,
	// latency). If nil, nothing is recorded.
	Metrics *metrics.API
}

// GRPCServer serves a Service over gRPC: google.cloud.vision.v1.ImageAnnotator,
// google.cloud.vision.v1p4beta1.ImageAnnotator, google.longrunning.Operations,
// Folio's folio.v1.Progress, the gRPC health service (grpc.health.v1.Health)
// and server reflection. A files:asyncBatchAnnotate call's idempotency-key
// metadata reaches the Service ([WithIdempotencyKey]), and so does its API
// key (x-goog-api-key or authorization: Bearer metadata). The health
// service and reflection need no key.
type GRPCServer struct {
	g       *grpc.Server
	s       *Service
	maxRecv int
	health  *health.Server
	ready   func(context.Context) error
	logger  *zap.Logger
	metrics *metrics.API
	stop    chan struct{}
	once    sync.Once
}

// NewGRPCServer returns a gRPC server for s. Errors reach clients as
// [rpcerr.Public] presents them, with the same codes, messages and details
// as the REST surface; a panicking call is INTERNAL. A nil opts is the zero
// value.
func NewGRPCServer(s *Service, opts *GRPCOptions) *GRPCServer {
	if opts == nil {
		opts = &GRPCOptions{}
	}
	max := opts.MaxRecvBytes
	if max <= 0 {
		max = DefaultMaxRequestBytes
	}
	gs := &GRPCServer{
		s:       s,
		maxRecv: max,
		health:  health.NewServer(),
		ready:   opts.Ready,
		logger:  s.logger.Named("grpc"),
		metrics: opts.Metrics,
		stop:    make(chan struct{}),
	}
	// gRPC refuses a message over its limit itself, as RESOURCE_EXHAUSTED;
	// let four times the limit through, so that intercept refuses what is
	// over it as REST does.
	gs.g = grpc.NewServer(grpc.MaxRecvMsgSize(4*max), grpc.ChainUnaryInterceptor(gs.observe, gs.intercept))
	visionpb.RegisterImageAnnotatorServer(gs.g, s)
	visionv1p4beta1.RegisterImageAnnotatorServer(gs.g, &betaAnnotator{s: s})
	longrunningpb.RegisterOperationsServer(gs.g, s)
	registerProgress(gs.g, s)
	healthpb.RegisterHealthServer(gs.g, gs.health)
	reflection.Register(gs.g)
	return gs
}

// Serve serves on ln until Shutdown and returns nil after it; the health
// service follows Ready meanwhile.
func (gs *GRPCServer) Serve(ln net.Listener) error {
	go gs.watchReady()
	if err := gs.g.Serve(ln); err != nil {
		return fmt.Errorf("api: serve gRPC: %w", err)
	}
	return nil
}

// watchReady sets the health status from Ready every healthInterval until
// Shutdown.
func (gs *GRPCServer) watchReady() {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_SERVING
		if gs.ready != nil {
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			if err := gs.ready(ctx); err != nil {
				st = healthpb.HealthCheckResponse_NOT_SERVING
			}
			cancel()
		}
		gs.health.SetServingStatus("", st)
		select {
		case <-gs.stop:
			return
		case <-t.C:
		}
	}
}

// Shutdown reports NOT_SERVING, stops accepting calls and waits for
// running ones until ctx ends, then cuts them off.
func (gs *GRPCServer) Shutdown(ctx context.Context) {
	gs.once.Do(func() { close(gs.stop) })
	gs.health.Shutdown()
	done := make(chan struct{})
	go func() { gs.g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		gs.g.Stop()
		<-done
	}
}

// intercept passes a call's idempotency-key metadata to the Service as a
// context value, turns every error of the call into the status a client
// sees, recovers panics as INTERNAL, and logs failures once.
func (gs *GRPCServer) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if v := recover(); v != nil {
			gs.logger.Error("handler panic", zap.String("method", info.FullMethod), zap.Any("panic", v), zap.Stack("stack"))
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
	}()
	if strings.HasPrefix(info.FullMethod, "/grpc.") { // health, reflection: their own statuses
		return handler(ctx, req)
	}
	// The key first (Service.admit; the methods' own admit then finds it
	// in ctx): a caller without one learns that before anything else.
	ctx, _, err = gs.s.admit(auth.WithCredential(withIdempotencyMetadata(ctx), auth.FromMetadata(ctx)))
	switch m, ok := req.(proto.Message); {
	case err != nil:
	case ok && proto.Size(m) > gs.maxRecv:
		err = &rpcerr.Error{Code: codes.InvalidArgument,
			Message: fmt.Sprintf("request payload size exceeds the limit: %d bytes", gs.maxRecv)}
	default:
		resp, err = handler(ctx, req)
	}
	if err == nil {
		return resp, nil
	}
	pe := rpcerr.Public(err)
	logFailure(gs.logger, pe, zap.String("method", info.FullMethod))
	return nil, grpcStatus(pe).Err()
}

// grpcStatus is pe as a gRPC status with its details.
func grpcStatus(pe *rpcerr.Error) *status.Status {
	st := status.New(pe.Code, pe.Message)
	if len(pe.Details) == 0 {
		return st
	}
	details := make([]protoadapt.MessageV1, len(pe.Details))
	for i, d := range pe.Details {
		details[i] = protoadapt.MessageV1Of(d)
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		return withDetails
	}
	return st
}

// betaAnnotator serves google.cloud.vision.v1p4beta1.ImageAnnotator with
// the v1 Service: requests and responses are converted through the wire
// format (the two versions share field numbers), and operations started
// here carry v1p4beta1 @type names.
type betaAnnotator struct {
	visionv1p4beta1.UnimplementedImageAnnotatorServer
	s *Service
}

// AsyncBatchAnnotateFiles is [Service.AsyncBatchAnnotateFiles] for v1p4beta1.
func (b *betaAnnotator) AsyncBatchAnnotateFiles(ctx context.Context, req *visionv1p4beta1.AsyncBatchAnnotateFilesRequest) (*longrunningpb.Operation, error) {
	v1 := &visionpb.AsyncBatchAnnotateFilesRequest{}
	if err := convertProto(req, v1); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return b.s.submit(ctx, apiV1p4beta1, v1)
}

// BatchAnnotateImages is [Service.BatchAnnotateImages] for v1p4beta1.
func (b *betaAnnotator) BatchAnnotateImages(ctx context.Context, req *visionv1p4beta1.BatchAnnotateImagesRequest) (*visionv1p4beta1.BatchAnnotateImagesResponse, error) {
	return betaCall(ctx, req, &visionpb.BatchAnnotateImagesRequest{}, &visionv1p4beta1.BatchAnnotateImagesResponse{}, b.s.BatchAnnotateImages)
}

// BatchAnnotateFiles is [Service.BatchAnnotateFiles] for v1p4beta1.
func (b *betaAnnotator) BatchAnnotateFiles(ctx context.Context, req *visionv1p4beta1.BatchAnnotateFilesRequest) (*visionv1p4beta1.BatchAnnotateFilesResponse, error) {
	return betaCall(ctx, req, &visionpb.BatchAnnotateFilesRequest{}, &visionv1p4beta1.BatchAnnotateFilesResponse{}, b.s.BatchAnnotateFiles)
}

// betaCall runs the v1 method call for the v1p4beta1 request req: req is
// converted to v1 (into v1req), and call's answer back to v1p4beta1 (into
// out); the versions share field numbers.
func betaCall[BetaReq, V1Req, V1Resp, BetaResp proto.Message](ctx context.Context, req BetaReq, v1req V1Req, out BetaResp,
	call func(context.Context, V1Req) (V1Resp, error)) (BetaResp, error) {
	var zero BetaResp
	if err := convertProto(req, v1req); err != nil {
		return zero, fmt.Errorf("api: %w", err)
	}
	resp, err := call(ctx, v1req)
	if err != nil {
		return zero, err
	}
	if err := convertProto(resp, out); err != nil {
		return zero, fmt.Errorf("api: %w", err)
	}
	return out, nil
}

// AsyncBatchAnnotateImages is [Service.AsyncBatchAnnotateImages] for
// v1p4beta1.
func (b *betaAnnotator) AsyncBatchAnnotateImages(ctx context.Context, req *visionv1p4beta1.AsyncBatchAnnotateImagesRequest) (*longrunningpb.Operation, error) {
	v1 := &visionpb.AsyncBatchAnnotateImagesRequest{}
	if err := convertProto(req, v1); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return b.s.submitImages(ctx, apiV1p4beta1, v1)
}
