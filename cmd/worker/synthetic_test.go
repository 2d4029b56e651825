package main

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/folio-ocr/folio/pipeline"
)

type countOnlyDoc struct{ pipeline.Document }

func (countOnlyDoc) PageCount() int { return 3 }

type countOnlyOpener struct{}

func (countOnlyOpener) Open(context.Context, io.ReadSeeker, int64) (pipeline.Document, error) {
	return countOnlyDoc{}, nil
}

func TestSyntheticOpeners(t *testing.T) {
	t.Parallel()
	ops := syntheticOpeners(map[string]pipeline.Opener{pipeline.MIMEPDF: countOnlyOpener{}}, 5*time.Millisecond)
	doc, err := ops[pipeline.MIMEPDF].Open(context.Background(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.PageCount(); got != 3 {
		t.Errorf("PageCount() = %d, want the real document's 3", got)
	}
	start := time.Now()
	p, err := doc.Page(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 5*time.Millisecond {
		t.Errorf("Page took %s, want at least the 5ms delay", took)
	}
	if route, why := (pipeline.Router{}).Route(p); route != pipeline.RouteText {
		t.Errorf("synthetic page routed to %s (%s), want text", route, why)
	}
	if p.Number != 2 {
		t.Errorf("page number %d, want 2", p.Number)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := syntheticDoc{Document: countOnlyDoc{}, delay: time.Hour}
	if _, err := slow.Page(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Page with a cancelled ctx = %v, want context.Canceled", err)
	}
}
