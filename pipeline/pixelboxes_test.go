package pipeline

import (
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// TestPixelBoxes: an image's answer gets pixel vertices everywhere, the
// shared word boxes turned once, and the whole text's locale from the
// page's language.
func TestPixelBoxes(t *testing.T) {
	t.Parallel()
	norm := func(l, t, r, b float32) *visionpb.BoundingPoly {
		return &visionpb.BoundingPoly{NormalizedVertices: []*visionpb.NormalizedVertex{{X: l, Y: t}, {X: r, Y: t}, {X: r, Y: b}, {X: l, Y: b}}}
	}
	px := func(l, t, r, b int32) *visionpb.BoundingPoly {
		return &visionpb.BoundingPoly{Vertices: []*visionpb.Vertex{{X: l, Y: t}, {X: r, Y: t}, {X: r, Y: b}, {X: l, Y: b}}}
	}
	ta := &visionpb.TextAnnotation{Text: "Hi\n", Pages: []*visionpb.Page{{
		Width: 200, Height: 100,
		Property: &visionpb.TextAnnotation_TextProperty{DetectedLanguages: []*visionpb.TextAnnotation_DetectedLanguage{{LanguageCode: "en", Confidence: 0.9}}},
		Blocks: []*visionpb.Block{{BoundingBox: norm(0.1, 0.2, 0.5, 0.4), Paragraphs: []*visionpb.Paragraph{{
			BoundingBox: norm(0.1, 0.2, 0.5, 0.4),
			Words: []*visionpb.Word{{BoundingBox: norm(0.1, 0.2, 0.5, 0.4), Symbols: []*visionpb.Symbol{
				{Text: "H", BoundingBox: norm(0.1, 0.2, 0.3, 0.4)}, {Text: "i"},
			}}},
		}}}},
	}}}
	resp := Respond(1, []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}}, "", ta)
	if got := resp.GetTextAnnotations()[0].GetLocale(); got != "en" {
		t.Errorf("locale %q, want en", got)
	}
	PixelBoxes(resp)
	want := px(20, 20, 100, 40)
	words := resp.GetFullTextAnnotation().GetPages()[0].GetBlocks()[0].GetParagraphs()[0].GetWords()
	for name, got := range map[string]*visionpb.BoundingPoly{
		"block":         resp.GetFullTextAnnotation().GetPages()[0].GetBlocks()[0].GetBoundingBox(),
		"word":          words[0].GetBoundingBox(),
		"whole text":    resp.GetTextAnnotations()[0].GetBoundingPoly(),
		"word entry":    resp.GetTextAnnotations()[1].GetBoundingPoly(),
		"symbol":        words[0].GetSymbols()[0].GetBoundingBox(),
		"symbol no box": words[0].GetSymbols()[1].GetBoundingBox(),
	} {
		w := want
		switch name {
		case "symbol":
			w = px(20, 20, 60, 40)
		case "symbol no box":
			w = nil
		}
		if diff := cmp.Diff(w, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	PixelBoxes(&visionpb.AnnotateImageResponse{}) // nothing to turn: no panic
}
