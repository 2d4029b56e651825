package pipeline

import (
	"fmt"
	"strings"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
)

// TextAnnotations derives Vision's textAnnotations from a full-text
// annotation: first an entry for the whole text (description = ta.Text,
// boundingPoly around every block), then one entry per word in reading
// order (description = the word's symbols). Boxes are normalizedVertices,
// as everywhere in Vision's file output; images:annotate turns them into
// pixels ([PixelBoxes]). The first entry's locale is the first page's first
// detected language, when OCR detected one (a text layer has none). It
// returns nil when ta has no words.
func TextAnnotations(ta *visionpb.TextAnnotation) []*visionpb.EntityAnnotation {
	var (
		out   []*visionpb.EntityAnnotation
		all   bounds
		words []*visionpb.EntityAnnotation
	)
	for _, p := range ta.GetPages() {
		for _, b := range p.GetBlocks() {
			all.addPoly(b.GetBoundingBox())
			for _, para := range b.GetParagraphs() {
				for _, w := range para.GetWords() {
					var sb strings.Builder
					for _, s := range w.GetSymbols() {
						sb.WriteString(s.GetText())
					}
					words = append(words, &visionpb.EntityAnnotation{
						Description:  sb.String(),
						BoundingPoly: w.GetBoundingBox(),
					})
				}
			}
		}
	}
	if len(words) == 0 {
		return nil
	}
	whole := &visionpb.EntityAnnotation{Description: ta.GetText(), BoundingPoly: all.poly()}
	if langs := ta.GetPages()[0].GetProperty().GetDetectedLanguages(); len(langs) > 0 {
		whole.Locale = langs[0].GetLanguageCode()
	}
	out = append(out, whole)
	return append(out, words...)
}

// PixelBoxes turns the boxes of resp, an image's answer, from
// normalizedVertices into pixel vertices of its page, as Vision answers
// images:annotate (files get normalized vertices, images pixels). Vertices
// are rounded to the nearest pixel. Boxes shared between the hierarchy and
// textAnnotations are turned once.
func PixelBoxes(resp *visionpb.AnnotateImageResponse) {
	pages := resp.GetFullTextAnnotation().GetPages()
	if len(pages) == 0 {
		return
	}
	w, h := float32(pages[0].GetWidth()), float32(pages[0].GetHeight())
	turn := func(p *visionpb.BoundingPoly) {
		if p == nil || len(p.NormalizedVertices) == 0 {
			return
		}
		p.Vertices = make([]*visionpb.Vertex, len(p.NormalizedVertices))
		for i, v := range p.NormalizedVertices {
			p.Vertices[i] = &visionpb.Vertex{X: int32(v.GetX()*w + 0.5), Y: int32(v.GetY()*h + 0.5)}
		}
		p.NormalizedVertices = nil
	}
	for _, page := range pages {
		for _, b := range page.GetBlocks() {
			turn(b.GetBoundingBox())
			for _, para := range b.GetParagraphs() {
				turn(para.GetBoundingBox())
				for _, word := range para.GetWords() {
					turn(word.GetBoundingBox())
					for _, s := range word.GetSymbols() {
						turn(s.GetBoundingBox())
					}
				}
			}
		}
	}
	for _, e := range resp.GetTextAnnotations() {
		turn(e.GetBoundingPoly())
	}
}

// bounds accumulates an axis-aligned box of normalized vertices.
type bounds struct {
	set                    bool
	left, top, right, bott float32
}

func (b *bounds) addPoly(p *visionpb.BoundingPoly) {
	for _, v := range p.GetNormalizedVertices() {
		x, y := v.GetX(), v.GetY()
		if !b.set {
			b.left, b.right, b.top, b.bott, b.set = x, x, y, y, true
			continue
		}
		b.left, b.right = min(b.left, x), max(b.right, x)
		b.top, b.bott = min(b.top, y), max(b.bott, y)
	}
}

func (b *bounds) poly() *visionpb.BoundingPoly {
	return &visionpb.BoundingPoly{NormalizedVertices: []*visionpb.NormalizedVertex{
		{X: b.left, Y: b.top}, {X: b.right, Y: b.top}, {X: b.right, Y: b.bott}, {X: b.left, Y: b.bott},
	}}
}

// HasTextLayer reports whether p has at least one visible character, i.e.
// whether its text layer can answer the text features without OCR.
func HasTextLayer(p *Page) bool {
	for _, c := range p.Chars {
		if shown(p, c) {
			return true
		}
	}
	return false
}

// AnnotatePage answers the features of one request for page p of the file at
// uri, from p's text layer (see [Respond]). A text feature requested for a
// page without a text layer gets code 12 (UNIMPLEMENTED): "page 7 has no
// text layer and OCR is not enabled"; the entry then has the shape of a
// failed page (see [FailedPage]).
func AnnotatePage(p *Page, features []*visionpb.Feature, uri string) *visionpb.AnnotateImageResponse {
	if HasTextLayer(p) {
		return Respond(p.Number, features, uri, BuildTextAnnotation(p))
	}
	resp := Respond(p.Number, features, uri, &visionpb.TextAnnotation{})
	if WantsText(features) {
		addProblem(resp, fmt.Sprintf("page %d has no text layer and OCR is not enabled", p.Number))
	}
	return resp
}

// Respond answers the features of one request for page n of the file at uri
// with the page's text annotation ta (from the text layer or from OCR; nil
// is taken as empty). DOCUMENT_TEXT_DETECTION fills fullTextAnnotation;
// TEXT_DETECTION fills fullTextAnnotation and textAnnotations. context
// {uri, pageNumber} is always set. A feature other than the two text
// features gets a google.rpc.Status error with code 12 (UNIMPLEMENTED):
// "LABEL_DETECTION is not implemented by Folio"; what can be answered is
// still filled in, as Vision does ("filled-in image annotations are
// guaranteed to be correct, even when error is set").
func Respond(n int, features []*visionpb.Feature, uri string, ta *visionpb.TextAnnotation) *visionpb.AnnotateImageResponse {
	resp := &visionpb.AnnotateImageResponse{
		Context: &visionpb.ImageAnnotationContext{Uri: uri, PageNumber: int32(n)},
	}
	if ta == nil {
		ta = &visionpb.TextAnnotation{}
	}
	var doc, text bool
	var unsupported []string
	seen := map[visionpb.Feature_Type]bool{}
	for _, f := range features {
		t := f.GetType()
		switch t {
		case visionpb.Feature_DOCUMENT_TEXT_DETECTION:
			doc = true
		case visionpb.Feature_TEXT_DETECTION:
			text = true
		default:
			if !seen[t] {
				seen[t] = true
				unsupported = append(unsupported, t.String())
			}
		}
	}
	if doc || text {
		resp.FullTextAnnotation = ta
		if text {
			resp.TextAnnotations = TextAnnotations(ta)
		}
	}
	switch len(unsupported) {
	case 0:
	case 1:
		addProblem(resp, unsupported[0]+" is not implemented by Folio")
	default:
		addProblem(resp, strings.Join(unsupported, ", ")+" are not implemented by Folio")
	}
	return resp
}

// FailedPage is the entry of page n of the file at uri when the page itself
// could not be read, rendered or recognized: its error is st, and when
// features ask for text (DOCUMENT_TEXT_DETECTION or TEXT_DETECTION) its
// fullTextAnnotation is present and empty, so that code reading
// fullTextAnnotation.text unguarded works on it as on Vision's files. The
// only failed page of Vision's output on record is, with fields in number
// order (google-cloud-python#6172, quoted in shared research §4.3):
//
//	{"error":{"code":4,"message":"Error reading file: gs://vision-temp-storage-…/async-doc-page-30-….png."},
//	 "fullTextAnnotation":{},"context":{"uri":"gs://xbucket/zzz/yyy.pdf","pageNumber":30}}
//
// Vision's PDF guide names the two text features as the only ones of async
// file annotation, and both fill fullTextAnnotation, so the shape is the
// same for either; the empty textAnnotations of TEXT_DETECTION is a
// repeated field, which proto3 JSON omits. Nothing shows what Vision writes for a request without a
// text feature: such a page gets no fullTextAnnotation, as in [Respond].
// protojson writes the set, empty message as {}, and so does
// [EncodeFileResponse].
func FailedPage(n int, features []*visionpb.Feature, uri string, st *statuspb.Status) *visionpb.AnnotateImageResponse {
	resp := &visionpb.AnnotateImageResponse{
		Error:   st,
		Context: &visionpb.ImageAnnotationContext{Uri: uri, PageNumber: int32(n)},
	}
	if WantsText(features) {
		resp.FullTextAnnotation = &visionpb.TextAnnotation{}
	}
	return resp
}

// WantsText reports whether features ask for text: a page read for no
// text feature is not worth OCR.
func WantsText(features []*visionpb.Feature) bool {
	for _, f := range features {
		switch f.GetType() {
		case visionpb.Feature_DOCUMENT_TEXT_DETECTION, visionpb.Feature_TEXT_DETECTION:
			return true
		}
	}
	return false
}

// addProblem adds an UNIMPLEMENTED reason to resp's error; reasons are
// joined with "; ".
func addProblem(resp *visionpb.AnnotateImageResponse, msg string) {
	if resp.Error == nil {
		resp.Error = &statuspb.Status{Code: int32(codes.Unimplemented), Message: msg}
		return
	}
	resp.Error.Message = msg + "; " + resp.Error.Message
}
