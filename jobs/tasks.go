package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/hibiken/asynq"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/folio-ocr/folio/pipeline"
)

// Task type names, persisted in Redis: never rename.
const (
	TypePlanFile      = "folio:plan_file"
	TypeAnnotateRange = "folio:annotate_range"
)

// DefaultQueue is the asynq queue Folio uses when none is configured.
const DefaultQueue = "folio"

// Retry and timeout policy of each task type.
const (
	maxRetry     = 8
	planTimeout  = 15 * time.Minute // includes downloading the file
	rangeTimeout = 30 * time.Minute
)

// FileTask identifies one file of an operation and carries its request.
type FileTask struct {
	Operation string          `json:"operation"` // operation id
	File      int             `json:"file"`      // index in the request's requests[]
	Request   json.RawMessage `json:"request"`   // protojson AsyncAnnotateFileRequest
	// Owner is the API key that created the operation (empty when
	// authentication is off), whose policy the worker checks again.
	Owner string `json:"owner,omitempty"`
}

// PlanFilePayload is the payload of TypePlanFile.
type PlanFilePayload struct {
	FileTask
}

// AnnotateRangePayload is the payload of TypeAnnotateRange.
type AnnotateRangePayload struct {
	FileTask
	First      int   `json:"first"`      // 1-based, inclusive
	Last       int   `json:"last"`       // inclusive
	Generation int64 `json:"generation"` // object generation planned, so every range reads the same bytes
	Size       int64 `json:"size"`       // object size in bytes
	// UnitFirst and UnitLast are the pages this task annotates when the
	// range is split into units that several workers process at once; both
	// are zero when the task annotates the whole range.
	UnitFirst int `json:"unit_first,omitempty"`
	UnitLast  int `json:"unit_last,omitempty"`
	// UnitPages is the unit size the range was split with.
	UnitPages int `json:"unit_pages,omitempty"`
	// Fonts is what the file's text layer tells of its fonts, sampled
	// once when the file was planned, so that its ranges neither sample
	// again nor lay pages out differently; FontsSampled tells that the
	// sample was tried (Fonts is nil if it found nothing or failed).
	Fonts        *pipeline.Fonts `json:"fonts,omitempty"`
	FontsSampled bool            `json:"fonts_sampled,omitempty"`
}

// pages returns the range of the output file.
func (p AnnotateRangePayload) pages() pipeline.PageRange {
	return pipeline.PageRange{First: p.First, Last: p.Last}
}

// unit returns the pages this task annotates.
func (p AnnotateRangePayload) unit() pipeline.PageRange {
	if p.UnitFirst == 0 {
		return p.pages()
	}
	return pipeline.PageRange{First: p.UnitFirst, Last: p.UnitLast}
}

// split reports whether the range is split into units.
func (p AnnotateRangePayload) split() bool { return p.UnitFirst != 0 }

// units returns the units of range r of unitPages pages each (the last may
// be shorter); a range no longer than unitPages is one unit.
func units(r pipeline.PageRange, unitPages int) []pipeline.PageRange {
	us, err := pipeline.SplitPages(r.Last-r.First+1, unitPages)
	if err != nil || len(us) <= 1 { // no unit size: the range is one unit
		return []pipeline.PageRange{r}
	}
	for i := range us {
		us[i].First += r.First - 1
		us[i].Last += r.First - 1
	}
	return us
}

func encodeRequest(r *visionpb.AsyncAnnotateFileRequest) (json.RawMessage, error) {
	b, err := protojson.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("jobs: encode file request: %w", err)
	}
	return b, nil
}

func (t FileTask) request() (*visionpb.AsyncAnnotateFileRequest, error) {
	r := &visionpb.AsyncAnnotateFileRequest{}
	if err := protojson.Unmarshal(t.Request, r); err != nil {
		return nil, fmt.Errorf("jobs: decode file request: %w", err)
	}
	return r, nil
}

// failureMessage is the client-facing message of a task of type taskType
// that failed for a reason not worth detailing (logged instead): it names
// the file, and the pages for a range.
func (p AnnotateRangePayload) failureMessage(taskType string) string {
	uri := "input file"
	if req, err := p.request(); err == nil {
		uri = req.GetInputConfig().GetGcsSource().GetUri()
	}
	switch taskType {
	case TypePlanImages:
		return "error planning the images"
	case TypeAnnotateImages:
		return fmt.Sprintf("error processing images %d-%d", p.First, p.Last)
	}
	if taskType == TypeAnnotateRange {
		u := p.unit()
		return fmt.Sprintf("error processing pages %d-%d of %s", u.First, u.Last, uri)
	}
	return fmt.Sprintf("error processing %s", uri)
}

func newPlanFileTask(p PlanFilePayload, queue string) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("jobs: marshal %s: %w", TypePlanFile, err)
	}
	id := fmt.Sprintf("plan:%s:%d", p.Operation, p.File)
	return asynq.NewTask(TypePlanFile, b, asynq.TaskID(id), asynq.Queue(queue),
		asynq.MaxRetry(maxRetry), asynq.Timeout(planTimeout)), nil
}

// rangeDeadline is the task timeout of a range of pages: enough for every
// page to take its full page timeout, plus time to write the output.
func rangeDeadline(pages int, pageTimeout time.Duration) time.Duration {
	return max(rangeTimeout, time.Duration(pages)*pageTimeout+5*time.Minute)
}

func newAnnotateRangeTask(p AnnotateRangePayload, queue string, pageTimeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("jobs: marshal %s: %w", TypeAnnotateRange, err)
	}
	id := fmt.Sprintf("range:%s:%d:%d-%d", p.Operation, p.File, p.First, p.Last)
	if p.split() {
		id += fmt.Sprintf(":%d-%d", p.UnitFirst, p.UnitLast)
	}
	u := p.unit()
	return asynq.NewTask(TypeAnnotateRange, b, asynq.TaskID(id), asynq.Queue(queue),
		asynq.MaxRetry(maxRetry), asynq.Timeout(rangeDeadline(u.Last-u.First+1, pageTimeout))), nil
}
