package jobs

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/folio-ocr/folio/pipeline"
)

func TestUnits(t *testing.T) {
	pr := func(f, l int) pipeline.PageRange { return pipeline.PageRange{First: f, Last: l} }
	tests := []struct {
		name string
		r    pipeline.PageRange
		size int
		want []pipeline.PageRange
	}{
		{"no split", pr(21, 40), 0, []pipeline.PageRange{pr(21, 40)}},
		{"range as long as a unit", pr(21, 30), 10, []pipeline.PageRange{pr(21, 30)}},
		{"even", pr(21, 40), 10, []pipeline.PageRange{pr(21, 30), pr(31, 40)}},
		{"short last unit", pr(101, 125), 10, []pipeline.PageRange{pr(101, 110), pr(111, 120), pr(121, 125)}},
		{"pages one by one", pr(5, 7), 1, []pipeline.PageRange{pr(5, 5), pr(6, 6), pr(7, 7)}},
	}
	for _, tt := range tests {
		if got := units(tt.r, tt.size); !slices.Equal(got, tt.want) {
			t.Errorf("%s: units(%v, %d) = %v, want %v", tt.name, tt.r, tt.size, got, tt.want)
		}
	}
}

// TestRangeTaskCarriesFonts: a range task's payload carries the file's
// whole font sample, styles included, to the worker that runs it.
func TestRangeTaskCarriesFonts(t *testing.T) {
	fonts := &pipeline.Fonts{Sizes: []float64{10, 12}, XHeight: 0.48, Ascent: 0.905, Descent: 0.212,
		Styles: []pipeline.Style{{Size: 10, XHeight: 0.547}, {Size: 12, XHeight: 0.478}}}
	p := AnnotateRangePayload{First: 1, Last: 20, Fonts: fonts, FontsSampled: true}
	task, err := newAnnotateRangeTask(p, "q", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got AnnotateRangePayload
	if err := json.Unmarshal(task.Payload(), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Fonts, fonts) || !got.FontsSampled {
		t.Errorf("fonts %+v (sampled %v), want %+v", got.Fonts, got.FontsSampled, fonts)
	}
}
