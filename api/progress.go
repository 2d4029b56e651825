package api

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/folio-ocr/folio/pipeline"
	"github.com/folio-ocr/folio/progresspb"
	"github.com/folio-ocr/folio/store"
)

// GetProgress returns how far the named operation has got (Folio's
// folio.v1.Progress extension; Google's Operation is left as it is): per
// file, the pages total, done and failed and the output objects written so
// far, and for the operation the same sums, its state, its rate in pages
// per second since it started running and an estimate of the time left.
// Every operation name form resolves; an unknown operation is NOT_FOUND.
// The figures come from one read of the store, so they agree with each
// other and every output listed exists.
func (s *Service) GetProgress(ctx context.Context, req *progresspb.GetProgressRequest) (*progresspb.OperationProgress, error) {
	ctx, k, err := s.admit(ctx)
	if err != nil {
		return nil, err
	}
	id, err := operationID(req.GetName())
	if err != nil {
		return nil, err
	}
	p, err := s.ops.Progress(ctx, id)
	if err != nil {
		return nil, notFound(req.GetName(), err)
	}
	if !owns(k, p.Operation) {
		return nil, notFound(req.GetName(), store.ErrNotFound)
	}
	return progressProto(p, s.now()), nil
}

// progressProto builds the answer of GetProgress from the store's
// progress, at time now.
func progressProto(p *store.Progress, now time.Time) *progresspb.OperationProgress {
	op := p.Operation
	reqs := op.Request.GetRequests()
	out := &progresspb.OperationProgress{
		Name:       op.Name,
		State:      progresspb.OperationProgress_State(op.State), // same numbers (TestProgressStates)
		Done:       finished(op),
		FilesTotal: int32(len(reqs)),
		CreateTime: timestamppb.New(op.CreateTime),
		UpdateTime: timestamppb.New(op.UpdateTime),
		Files:      make([]*progresspb.FileProgress, len(reqs)),
	}
	if !op.StartTime.IsZero() {
		out.StartTime = timestamppb.New(op.StartTime)
	}
	for i, r := range reqs {
		out.Files[i] = &progresspb.FileProgress{
			InputUri:        r.GetInputConfig().GetGcsSource().GetUri(),
			OutputUriPrefix: r.GetOutputConfig().GetGcsDestination().GetUri(),
		}
	}
	if op.Images != nil { // one file, whose pages are the images
		out.FilesTotal = 1
		out.Files = []*progresspb.FileProgress{{OutputUriPrefix: op.Images.GetOutputConfig().GetGcsDestination().GetUri()}}
	}
	for _, f := range p.Planned {
		if f >= 0 && f < len(out.Files) {
			out.Files[f].Planned = true
			out.FilesPlanned++
		}
	}
	for _, r := range p.Ranges { // by file, then first page
		if r.File < 0 || r.File >= len(out.Files) {
			continue
		}
		f := out.Files[r.File]
		pages := int32(r.Last - r.First + 1)
		f.PagesTotal += pages
		f.OutputsTotal++
		if !r.Done {
			continue
		}
		f.PagesDone += pages
		f.PagesFailed += int32(r.FailedPages)
		f.Outputs = append(f.Outputs, &progresspb.OutputObject{
			Uri:         pipeline.OutputName(f.OutputUriPrefix, pipeline.PageRange{First: r.First, Last: r.Last}),
			FirstPage:   int32(r.First),
			LastPage:    int32(r.Last),
			PagesFailed: int32(r.FailedPages),
		})
	}
	for i, fe := range p.FileErrors {
		if i >= 0 && i < len(out.Files) {
			out.Files[i].Error = &progresspb.FileError{Code: fe.Code, Message: fe.Message}
		}
	}
	for _, f := range out.Files {
		out.PagesTotal += f.PagesTotal
		out.PagesDone += f.PagesDone
		out.PagesFailed += f.PagesFailed
	}
	if !op.StartTime.IsZero() && out.PagesDone > 0 {
		end := now
		if out.Done {
			end = op.UpdateTime
		}
		if elapsed := end.Sub(op.StartTime); elapsed > 0 {
			out.PagesPerSecond = float64(out.PagesDone) / elapsed.Seconds()
		}
	}
	if !out.Done && out.FilesPlanned == out.FilesTotal && out.PagesPerSecond > 0 {
		// Rounded up to the second, so pages left never show as "0s"; the
		// millisecond rounding first keeps float error from adding one.
		left := time.Duration(float64(out.PagesTotal-out.PagesDone) / out.PagesPerSecond * float64(time.Second))
		left = left.Round(time.Millisecond)
		out.Eta = durationpb.New((left + time.Second - 1) / time.Second * time.Second)
	}
	return out
}

// finished reports whether op has ended, successfully or not, as
// [store.ListFilter] defines it for every store.
func finished(op *store.Operation) bool {
	yes := true
	return store.ListFilter{Done: &yes}.Match(op)
}

// progress answers GET /v1/{name}:progress.
func (h *rest) progress(ctx context.Context, name string) (proto.Message, error) {
	return h.s.GetProgress(ctx, &progresspb.GetProgressRequest{Name: name})
}

// progressServer serves folio.v1.Progress over gRPC with a Service.
type progressServer struct {
	progresspb.UnimplementedProgressServer
	s *Service
}

// registerProgress registers folio.v1.Progress of s on g.
func registerProgress(g *grpc.Server, s *Service) {
	progresspb.RegisterProgressServer(g, progressServer{s: s})
}

// GetProgress is [Service.GetProgress].
func (p progressServer) GetProgress(ctx context.Context, req *progresspb.GetProgressRequest) (*progresspb.OperationProgress, error) {
	return p.s.GetProgress(ctx, req)
}
