package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"github.com/google/go-cmp/cmp"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/folio-ocr/folio/internal/pdfgen"
)

func sampleFileResponse() *visionpb.AnnotateFileResponse {
	in := &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: "gs://b/in.pdf"}, MimeType: "application/pdf"}
	p1 := &Page{Number: 1, Width: 612, Height: 792, Chars: typeset(tl{72, 700, "Hello world"}, tl{72, 688, "second line"})}
	p2 := &Page{Number: 2, Width: 612, Height: 792}
	fs := []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}}
	return NewFileResponse(in, []*visionpb.AnnotateImageResponse{
		AnnotatePage(p1, fs, "gs://b/in.pdf"),
		AnnotatePage(p2, fs, "gs://b/in.pdf"),
	})
}

func TestEncodeFileResponseShape(t *testing.T) {
	resp := sampleFileResponse()
	b, err := EncodeFileResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.ContainsAny(s, "\n\t") || bytes.HasSuffix(b, []byte(" ")) {
		t.Errorf("not compact single-line JSON")
	}
	var compacted bytes.Buffer
	if err := json.Compact(&compacted, b); err != nil || compacted.String() != s {
		t.Errorf("not compact JSON: %v", err)
	}
	for _, want := range []string{
		`{"inputConfig":{"gcsSource":{"uri":"gs://b/in.pdf"},"mimeType":"application/pdf"},"responses":[{"fullTextAnnotation":{"pages":[{"width":612,"height":792,"blocks":[{"boundingBox":{"normalizedVertices":[{"x":`,
		`"blockType":"TEXT","confidence":1}`,
		`"detectedBreak":{"type":"SPACE"}`,
		`"detectedBreak":{"type":"EOL_SURE_SPACE"}`,
		`"detectedBreak":{"type":"LINE_BREAK"}`,
		`"text":"Hello world\nsecond line\n"},"context":{"uri":"gs://b/in.pdf","pageNumber":1}}`,
		// field-number order: error (9) before fullTextAnnotation (12) before context (21)
		`{"error":{"code":12,"message":"page 2 has no text layer and OCR is not enabled"},"fullTextAnnotation":{},"context":{"uri":"gs://b/in.pdf","pageNumber":2}}]}`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %s\n%.600s", want, s)
		}
	}
	for _, bad := range []string{`"vertices"`, `"type":1`, `"totalPages"`, `"page_number"`, `"full_text_annotation"`} {
		if strings.Contains(s, bad) {
			t.Errorf("output contains %s", bad)
		}
	}
	// Round trip, strictly.
	var back visionpb.AnnotateFileResponse
	if err := protojson.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(resp, &back, protocmp.Transform()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestFailedPageShape checks the entries of failed pages, from every place
// that builds them, against the shape of Vision's failed pages (see
// FailedPage): error, then an empty fullTextAnnotation when text is asked
// for, then context. Each entry is written the same by EncodePage (units),
// the FileWriter (whole ranges) and protojson, and parses back with a
// fullTextAnnotation whose text is empty.
func TestFailedPageShape(t *testing.T) {
	const uri = "gs://b/in.pdf"
	feat := func(ts ...visionpb.Feature_Type) []*visionpb.Feature {
		var fs []*visionpb.Feature
		for _, t := range ts {
			fs = append(fs, &visionpb.Feature{Type: t})
		}
		return fs
	}
	var (
		doc   = visionpb.Feature_DOCUMENT_TEXT_DETECTION
		text  = visionpb.Feature_TEXT_DETECTION
		label = visionpb.Feature_LABEL_DETECTION
	)
	failed := func(fs []*visionpb.Feature) *visionpb.AnnotateImageResponse {
		return FailedPage(30, fs, uri, &statuspb.Status{Code: 4, Message: "page 30 of gs://b/in.pdf: took longer than 1m0s"})
	}
	blank := &Page{Number: 7, Width: 612, Height: 792}
	const (
		timedOut  = `{"error":{"code":4,"message":"page 30 of gs://b/in.pdf: took longer than 1m0s"},"fullTextAnnotation":{},"context":{"uri":"gs://b/in.pdf","pageNumber":30}}`
		noTextFTA = `{"error":{"code":12,"message":"page 7 has no text layer and OCR is not enabled"},"fullTextAnnotation":{},"context":{"uri":"gs://b/in.pdf","pageNumber":7}}`
	)
	tests := []struct {
		name string
		resp *visionpb.AnnotateImageResponse
		want string
		full bool // fullTextAnnotation present
	}{
		{"failed, document text", failed(feat(doc)), timedOut, true},
		{"failed, text", failed(feat(text)), timedOut, true},
		{"failed, both", failed(feat(text, doc)), timedOut, true},
		{"failed, text and unsupported", failed(feat(doc, label)), timedOut, true},
		{"failed, no text feature", failed(feat(label)),
			`{"error":{"code":4,"message":"page 30 of gs://b/in.pdf: took longer than 1m0s"},"context":{"uri":"gs://b/in.pdf","pageNumber":30}}`, false},
		{"no text layer, document text", AnnotatePage(blank, feat(doc), uri), noTextFTA, true},
		{"no text layer, text", AnnotatePage(blank, feat(text), uri), noTextFTA, true},
		{"no text layer, text and unsupported", AnnotatePage(blank, feat(doc, label), uri),
			`{"error":{"code":12,"message":"page 7 has no text layer and OCR is not enabled; LABEL_DETECTION is not implemented by Folio"},"fullTextAnnotation":{},"context":{"uri":"gs://b/in.pdf","pageNumber":7}}`, true},
		{"no text layer, no text feature", AnnotatePage(blank, feat(label), uri),
			`{"error":{"code":12,"message":"LABEL_DETECTION is not implemented by Folio"},"context":{"uri":"gs://b/in.pdf","pageNumber":7}}`, false},
		{"nil annotation", Respond(2, feat(doc), uri, nil), `{"fullTextAnnotation":{},"context":{"uri":"gs://b/in.pdf","pageNumber":2}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := EncodePage(nil, tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			if string(page) != tt.want {
				t.Errorf("EncodePage:\n got %s\nwant %s", page, tt.want)
			}
			file := NewFileResponse(nil, []*visionpb.AnnotateImageResponse{tt.resp})
			wantFile := `{"responses":[` + tt.want + `]}`
			streamed, err := streamFile(t, nil, file.Responses)
			if err != nil {
				t.Fatal(err)
			}
			generic, err := encodeGeneric(file)
			if err != nil {
				t.Fatal(err)
			}
			for name, got := range map[string][]byte{"FileWriter": streamed, "protojson": generic} {
				if string(got) != wantFile {
					t.Errorf("%s:\n got %s\nwant %s", name, got, wantFile)
				}
			}
			var back visionpb.AnnotateImageResponse
			if err := protojson.Unmarshal([]byte(tt.want), &back); err != nil {
				t.Fatalf("strict parse: %v", err)
			}
			if diff := cmp.Diff(tt.resp, &back, protocmp.Transform()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if got := back.FullTextAnnotation != nil; got != tt.full {
				t.Errorf("parsed fullTextAnnotation present = %v, want %v", got, tt.full)
			}
			if tt.full && (back.FullTextAnnotation.Text != "" || len(back.FullTextAnnotation.Pages) != 0) {
				t.Errorf("parsed fullTextAnnotation = %v, want empty", back.FullTextAnnotation)
			}
		})
	}
}

// TestGoogleSamples checks that Google's own output files parse strictly
// into AnnotateFileResponse, that their text follows the spelling rule the
// package uses, and that our encoding has the same top-level shape. The
// samples live outside the repository; the test skips when they are absent.
func TestGoogleSamples(t *testing.T) {
	dir := "../../shared/research/google-output-samples"
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skip("Google output samples not present")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var resp visionpb.AnnotateFileResponse
			if err := (protojson.UnmarshalOptions{}).Unmarshal(b, &resp); err != nil {
				t.Fatalf("strict parse: %v", err)
			}
			for _, r := range resp.Responses {
				ta := r.GetFullTextAnnotation()
				// Google's Hebrew sample drops the final newline.
				if got := spell(ta); got != ta.GetText() && got != ta.GetText()+"\n" {
					t.Errorf("page %d: Google's text differs from its symbols+breaks", r.GetContext().GetPageNumber())
				}
			}
			// Re-encoding Google's file gives the same bytes, up to
			// float formatting: our encoder is their serialisation.
			ours, err := EncodeFileResponse(&resp)
			if err != nil {
				t.Fatal(err)
			}
			var back visionpb.AnnotateFileResponse
			if err := protojson.Unmarshal(ours, &back); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&resp, &back) {
				t.Errorf("re-encoded sample differs")
			}
			if !bytes.Equal(bytes.TrimSpace(b), ours) {
				i := 0
				for i < len(ours) && i < len(b) && ours[i] == b[i] {
					i++
				}
				t.Logf("byte-level difference at %d: google %.80q ours %.80q", i, b[i:], ours[i:])
			}
		})
	}
}

func BenchmarkEncodeFileResponse(b *testing.B) {
	var lines []tl
	for i := range 50 {
		lines = append(lines, tl{72, 740 - float64(i)*13, "The quick brown fox jumps over the lazy dog again."})
	}
	p := &Page{Number: 1, Width: 612, Height: 792, Chars: typeset(lines...)}
	fs := []*visionpb.Feature{{Type: visionpb.Feature_DOCUMENT_TEXT_DETECTION}}
	resp := NewFileResponse(&visionpb.InputConfig{MimeType: "application/pdf"}, []*visionpb.AnnotateImageResponse{AnnotatePage(p, fs, "gs://b/x.pdf")})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeFileResponse(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// randResponse builds a random file response over the messages the fast
// encoder writes, with awkward values: control characters, quotes, non-ASCII
// text, -0, tiny and huge floats, NaN and infinities (when nan is set),
// unnamed enum values, nil list elements and empty messages.
func randResponse(r *rand.Rand, nan bool) *visionpb.AnnotateFileResponse {
	strs := []string{"", "a", "Hello", "quote\"back\\slash", "tab\tnl\ncr\rbs\bff\f", "\x00\x01\x1f\x7f", "é ü 漢字 𝄞", "\u2028\u2029<>&'", "gs://b/x y.pdf"}
	str := func() string {
		if r.IntN(3) == 0 {
			return strs[r.IntN(len(strs))]
		}
		b := make([]rune, r.IntN(6))
		for i := range b {
			b[i] = rune(r.IntN(0x3000))
		}
		return string(b)
	}
	f32 := func() float32 {
		switch r.IntN(12) {
		case 0:
			return 0
		case 1:
			return float32(math.Copysign(0, -1))
		case 2:
			return float32(r.Float64() * 1e-8)
		case 3:
			return float32(r.Float64() * 1e25)
		case 4:
			if nan {
				return float32(math.NaN())
			}
		case 5:
			if nan {
				return float32(math.Inf(1 - 2*r.IntN(2)))
			}
		case 6:
			return 1
		case 7:
			return -float32(r.Float64())
		case 8:
			return float32(r.IntN(1<<25) - 1<<24) // integers around ±2^24
		}
		return float32(r.Float64())
	}
	i32 := func() int32 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return -r.Int32N(1000)
		case 2:
			return math.MaxInt32 - r.Int32N(2)
		}
		return r.Int32N(5000)
	}
	poly := func() *visionpb.BoundingPoly {
		if r.IntN(4) == 0 {
			return nil
		}
		p := &visionpb.BoundingPoly{}
		for range r.IntN(5) {
			if r.IntN(3) == 0 {
				p.Vertices = append(p.Vertices, &visionpb.Vertex{X: i32(), Y: i32()})
			} else {
				p.NormalizedVertices = append(p.NormalizedVertices, &visionpb.NormalizedVertex{X: f32(), Y: f32()})
			}
		}
		return p
	}
	prop := func() *visionpb.TextAnnotation_TextProperty {
		if r.IntN(3) == 0 {
			return nil
		}
		p := &visionpb.TextAnnotation_TextProperty{}
		for range r.IntN(3) {
			p.DetectedLanguages = append(p.DetectedLanguages, &visionpb.TextAnnotation_DetectedLanguage{LanguageCode: str(), Confidence: f32()})
		}
		if r.IntN(2) == 0 {
			p.DetectedBreak = &visionpb.TextAnnotation_DetectedBreak{
				Type:     visionpb.TextAnnotation_DetectedBreak_BreakType(r.IntN(8)),
				IsPrefix: r.IntN(2) == 0,
			}
		}
		return p
	}
	ta := func() *visionpb.TextAnnotation {
		t := &visionpb.TextAnnotation{Text: str()}
		for range r.IntN(3) {
			pg := &visionpb.Page{Property: prop(), Width: i32(), Height: i32(), Confidence: f32()}
			for range r.IntN(3) {
				b := &visionpb.Block{Property: prop(), BoundingBox: poly(), BlockType: visionpb.Block_BlockType(r.IntN(9)), Confidence: f32()}
				for range r.IntN(3) {
					para := &visionpb.Paragraph{Property: prop(), BoundingBox: poly(), Confidence: f32()}
					for range r.IntN(4) {
						w := &visionpb.Word{Property: prop(), BoundingBox: poly(), Confidence: f32()}
						for range r.IntN(4) {
							w.Symbols = append(w.Symbols, &visionpb.Symbol{Property: prop(), BoundingBox: poly(), Text: str(), Confidence: f32()})
						}
						para.Words = append(para.Words, w)
					}
					b.Paragraphs = append(b.Paragraphs, para)
				}
				pg.Blocks = append(pg.Blocks, b)
			}
			t.Pages = append(t.Pages, pg)
		}
		return t
	}
	resp := &visionpb.AnnotateFileResponse{TotalPages: i32()}
	if r.IntN(4) != 0 {
		resp.InputConfig = &visionpb.InputConfig{MimeType: str()}
		if r.IntN(2) == 0 {
			resp.InputConfig.GcsSource = &visionpb.GcsSource{Uri: str()}
		}
		if r.IntN(4) == 0 {
			resp.InputConfig.Content = []byte(str())
		}
	}
	if r.IntN(5) == 0 {
		resp.Error = &statuspb.Status{Code: i32(), Message: str()}
	}
	for range r.IntN(4) {
		ir := &visionpb.AnnotateImageResponse{}
		if r.IntN(2) == 0 {
			ir.FullTextAnnotation = ta()
		}
		if r.IntN(3) == 0 {
			ir.Error = &statuspb.Status{Code: i32(), Message: str()}
		}
		if r.IntN(2) == 0 {
			ir.Context = &visionpb.ImageAnnotationContext{Uri: str(), PageNumber: i32()}
		}
		for range r.IntN(4) {
			ir.TextAnnotations = append(ir.TextAnnotations, &visionpb.EntityAnnotation{
				Mid: str(), Locale: str(), Description: str(), Score: f32(),
				Confidence: f32(), Topicality: f32(), BoundingPoly: poly(),
			})
		}
		resp.Responses = append(resp.Responses, ir)
	}
	return resp
}

// TestEncodeFastMatchesProtojson compares the hand-written encoder with the
// protojson-based one, byte for byte, on many random responses, and checks
// that protojson parses the output back into an equal message.
func TestEncodeFastMatchesProtojson(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		nan := i%2 == 1
		resp := randResponse(r, nan)
		if !fastFile(resp) {
			t.Fatalf("case %d: not fast-encodable", i)
		}
		fast, ferr := EncodeFileResponse(resp)
		slow, serr := encodeGeneric(resp)
		if (ferr != nil) != (serr != nil) {
			t.Fatalf("case %d: fast error %v, protojson error %v", i, ferr, serr)
		}
		if !bytes.Equal(fast, slow) {
			j := 0
			for j < len(fast) && j < len(slow) && fast[j] == slow[j] {
				j++
			}
			t.Fatalf("case %d: differs at byte %d\nfast:      %.200q\nprotojson: %.200q", i, j, fast[j:], slow[j:])
		}
		if nan {
			continue // NaN != NaN for proto.Equal
		}
		var back visionpb.AnnotateFileResponse
		if err := protojson.Unmarshal(fast, &back); err != nil {
			t.Fatalf("case %d: parse back: %v", i, err)
		}
		if !proto.Equal(resp, &back) {
			t.Fatalf("case %d: round trip differs: %s", i, cmp.Diff(resp, &back, protocmp.Transform()))
		}
	}
}

// TestEncodeInvalidUTF8 checks that both encoders refuse invalid UTF-8.
func TestEncodeInvalidUTF8(t *testing.T) {
	resp := NewFileResponse(nil, []*visionpb.AnnotateImageResponse{{
		FullTextAnnotation: &visionpb.TextAnnotation{Text: "ok \xff bad"},
	}})
	if _, err := EncodeFileResponse(resp); err == nil {
		t.Error("fast encoder accepted invalid UTF-8")
	}
	if _, err := encodeGeneric(resp); err == nil {
		t.Error("protojson accepted invalid UTF-8")
	}
}

// TestEncodeFallback checks that a response with fields Folio never fills
// is still encoded completely, by protojson.
func TestEncodeFallback(t *testing.T) {
	detail, err := anypb.New(&visionpb.GcsSource{Uri: "gs://x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ir := range []*visionpb.AnnotateImageResponse{
		{LabelAnnotations: []*visionpb.EntityAnnotation{{Description: "cat", Score: 0.9}}},
		{Error: &statuspb.Status{Code: 3, Message: "x", Details: []*anypb.Any{detail}}},
		{TextAnnotations: []*visionpb.EntityAnnotation{{Description: "w", Locations: []*visionpb.LocationInfo{{LatLng: &latlng.LatLng{Latitude: 1}}}}}},
	} {
		resp := NewFileResponse(nil, []*visionpb.AnnotateImageResponse{ir})
		if fastFile(resp) {
			t.Errorf("%v: fast-encodable", ir)
		}
		b, err := EncodeFileResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		var back visionpb.AnnotateFileResponse
		if err := protojson.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(resp, &back) {
			t.Errorf("round trip differs: %s", b)
		}
	}
}

// TestFastEncoderCoversFields pins the field sets of the messages the fast
// encoder writes in full: a visionpb upgrade that adds a field fails here
// and must be taught to jsonEncoder (or to fastFile's checks).
func TestFastEncoderCoversFields(t *testing.T) {
	want := map[proto.Message]string{
		&visionpb.AnnotateFileResponse{}:            "inputConfig responses totalPages error",
		&visionpb.InputConfig{}:                     "gcsSource content mimeType",
		&visionpb.GcsSource{}:                       "uri",
		&visionpb.TextAnnotation{}:                  "pages text",
		&visionpb.Page{}:                            "property width height blocks confidence",
		&visionpb.Block{}:                           "property boundingBox paragraphs blockType confidence",
		&visionpb.Paragraph{}:                       "property boundingBox words confidence",
		&visionpb.Word{}:                            "property boundingBox symbols confidence",
		&visionpb.Symbol{}:                          "property boundingBox text confidence",
		&visionpb.TextAnnotation_TextProperty{}:     "detectedLanguages detectedBreak",
		&visionpb.TextAnnotation_DetectedLanguage{}: "languageCode confidence",
		&visionpb.TextAnnotation_DetectedBreak{}:    "type isPrefix",
		&visionpb.BoundingPoly{}:                    "vertices normalizedVertices",
		&visionpb.Vertex{}:                          "x y",
		&visionpb.NormalizedVertex{}:                "x y",
		&visionpb.ImageAnnotationContext{}:          "uri pageNumber",
		&visionpb.EntityAnnotation{}:                "mid locale description score confidence topicality boundingPoly locations properties",
		&statuspb.Status{}:                          "code message details",
	}
	for m, fields := range want {
		d := m.ProtoReflect().Descriptor()
		var got []string
		for i := range d.Fields().Len() {
			f := d.Fields().Get(i)
			got = append(got, f.JSONName())
			if f.Kind() != protoreflect.MessageKind && f.Cardinality() != protoreflect.Repeated && f.HasPresence() {
				t.Errorf("%s.%s has explicit presence; the fast encoder omits zero values", d.Name(), f.Name())
			}
		}
		if g := strings.Join(got, " "); g != fields {
			t.Errorf("%s fields %q, the fast encoder knows %q", d.Name(), g, fields)
		}
	}
}

// TestEncodeRIntroMatchesProtojson compares both encoders on real pages.
func TestEncodeRIntroMatchesProtojson(t *testing.T) {
	doc := openRIntro(t)
	fs := []*visionpb.Feature{{Type: visionpb.Feature_TEXT_DETECTION}}
	var pages []*visionpb.AnnotateImageResponse
	for n := 1; n <= doc.PageCount(); n += 7 {
		p, err := doc.Page(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, AnnotatePage(p, fs, rIntro))
	}
	resp := NewFileResponse(&visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: "gs://b/R-intro.pdf"}, MimeType: "application/pdf"}, pages)
	fast, err := EncodeFileResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := encodeGeneric(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast, slow) {
		t.Errorf("fast and protojson encodings differ (%d and %d bytes)", len(fast), len(slow))
	}
}

// recordingWriter keeps what is written to it and how.
type recordingWriter struct {
	buf    bytes.Buffer
	writes int
	fail   error // returned by every Write once set
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.fail != nil {
		return 0, w.fail
	}
	w.writes++
	return w.buf.Write(p)
}

// streamFile writes pages through a FileWriter, checking that each call
// writes at most once.
func streamFile(t *testing.T, input *visionpb.InputConfig, pages []*visionpb.AnnotateImageResponse) ([]byte, error) {
	t.Helper()
	var w recordingWriter
	fw, err := NewFileWriter(&w, input)
	if err != nil {
		return nil, err
	}
	if w.writes != 0 {
		t.Errorf("NewFileWriter wrote %d times", w.writes)
	}
	for i, p := range pages {
		before := w.writes
		if err := fw.WritePage(p); err != nil {
			return nil, err
		}
		if w.writes != before+1 {
			t.Errorf("WritePage %d wrote %d times, want once", i, w.writes-before)
		}
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	if err := fw.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := fw.WritePage(&visionpb.AnnotateImageResponse{}); err == nil {
		t.Error("WritePage after Close succeeded")
	}
	return w.buf.Bytes(), nil
}

// TestFileWriterMatchesEncode checks that streaming pages through a
// FileWriter writes exactly EncodeFileResponse(NewFileResponse(input,
// pages)), and that both equal protojson's encoding, on random responses
// (some with pages only protojson can write, so files mix both encoders),
// with and without input, with zero pages.
func TestFileWriterMatchesEncode(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	r := rand.New(rand.NewPCG(3, 4))
	samples := []struct {
		input *visionpb.InputConfig
		pages []*visionpb.AnnotateImageResponse
	}{
		{nil, nil},
		{&visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: "gs://b/in.pdf"}, MimeType: "application/pdf"}, nil},
		{&visionpb.InputConfig{}, nil},
		{nil, []*visionpb.AnnotateImageResponse{nil, {}}},
		{sampleFileResponse().InputConfig, sampleFileResponse().Responses},
	}
	for range n {
		resp := randResponse(r, r.IntN(2) == 0)
		for _, p := range resp.Responses {
			if r.IntN(5) == 0 { // only protojson writes labels
				p.LabelAnnotations = []*visionpb.EntityAnnotation{{Description: "cat", Score: 0.5}}
			}
		}
		samples = append(samples, struct {
			input *visionpb.InputConfig
			pages []*visionpb.AnnotateImageResponse
		}{resp.InputConfig, resp.Responses})
	}
	for i, s := range samples {
		whole := NewFileResponse(s.input, s.pages)
		want, werr := EncodeFileResponse(whole)
		generic, gerr := encodeGeneric(whole)
		got, err := streamFile(t, s.input, s.pages)
		if (err != nil) != (werr != nil) || (gerr != nil) != (werr != nil) {
			t.Fatalf("case %d: stream error %v, EncodeFileResponse error %v, protojson error %v", i, err, werr, gerr)
		}
		if werr != nil {
			continue
		}
		for _, other := range []struct {
			name string
			b    []byte
		}{{"EncodeFileResponse", want}, {"protojson", generic}} {
			if !bytes.Equal(got, other.b) {
				j := 0
				for j < len(got) && j < len(other.b) && got[j] == other.b[j] {
					j++
				}
				t.Fatalf("case %d: stream and %s differ at byte %d\nstream: %.200q\n%s: %.200q", i, other.name, j, got[j:], other.name, other.b[j:])
			}
		}
	}
	// Zero pages, spelled out.
	got, err := streamFile(t, nil, nil)
	if err != nil || string(got) != "{}" {
		t.Errorf("empty file: %q, %v", got, err)
	}
	got, err = streamFile(t, &visionpb.InputConfig{MimeType: "application/pdf"}, nil)
	if err != nil || string(got) != `{"inputConfig":{"mimeType":"application/pdf"}}` {
		t.Errorf("file without pages: %q, %v", got, err)
	}
}

// TestFileWriterErrors checks that the first error sticks and that a page
// that cannot be encoded is not written.
func TestFileWriterErrors(t *testing.T) {
	good := &visionpb.AnnotateImageResponse{Context: &visionpb.ImageAnnotationContext{PageNumber: 1}}
	bad := &visionpb.AnnotateImageResponse{FullTextAnnotation: &visionpb.TextAnnotation{Text: "ok \xff bad"}}

	if _, err := NewFileWriter(io.Discard, &visionpb.InputConfig{MimeType: "\xff"}); err == nil {
		t.Error("NewFileWriter accepted an invalid UTF-8 input config")
	}

	var w recordingWriter
	fw, err := NewFileWriter(&w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.WritePage(good); err != nil {
		t.Fatal(err)
	}
	written := w.buf.String()
	if err := fw.WritePage(bad); err == nil || !strings.Contains(err.Error(), "invalid UTF-8") {
		t.Errorf("WritePage(invalid UTF-8) = %v", err)
	}
	if err := fw.WritePage(good); err == nil {
		t.Error("WritePage after an error succeeded")
	}
	if err := fw.Close(); err == nil {
		t.Error("Close after an error succeeded")
	}
	if w.buf.String() != written {
		t.Errorf("wrote %q after the error", strings.TrimPrefix(w.buf.String(), written))
	}

	boom := errors.New("boom")
	w = recordingWriter{}
	fw, err = NewFileWriter(&w, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.fail = boom
	if err := fw.WritePage(good); !errors.Is(err, boom) {
		t.Errorf("WritePage on a failing writer = %v, want %v", err, boom)
	}
	if err := fw.Close(); !errors.Is(err, boom) {
		t.Errorf("Close after a write error = %v, want %v", err, boom)
	}
}

// denseDocument is a generated PDF whose pages are as dense as a page of
// small print: lines of cols characters each (6 pt Helvetica, 7 pt apart),
// e.g. 100 lines of 124 characters, 12.4k characters a page.
func denseDocument(pages, lines, cols int) []byte {
	words := strings.Fields("the quick brown fox jumps over lazy dogs while folio reads every text layer of born digital documents 0123 4567 89")
	ps := make([]pdfgen.Page, pages)
	for p := range ps {
		for l := range lines {
			var b strings.Builder
			for i := p*lines + l; b.Len() < cols; i++ {
				if b.Len() > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(words[i%len(words)])
			}
			ps[p].Runs = append(ps[p].Runs, pdfgen.Run{X: 36, Y: 760 - float64(l)*7, Size: 6, Text: b.String()[:cols]})
		}
	}
	return pdfgen.PDF(ps...)
}

func openDense(tb testing.TB, pages int) Document {
	tb.Helper()
	data := denseDocument(pages, 100, 124)
	doc, err := testPDF(tb).Open(context.Background(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { doc.Close() })
	return doc
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStreamingMemoryPerPage measures the heap a range holds on dense
// pages: the whole-file path (every page's responses, then the encoded
// file, as annotateRange did before streaming) grows with the range; the
// streaming path (one page's responses and JSON at a time) does not.
func TestStreamingMemoryPerPage(t *testing.T) {
	if testing.Short() {
		t.Skip("dense pages take a few seconds")
	}
	const pages = 16
	doc := openDense(t, pages)
	input := &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: "gs://b/dense.pdf"}, MimeType: "application/pdf"}
	page := func(n int) *Page {
		p, err := doc.Page(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if chars := len(page(1).Chars); chars < 12000 {
		t.Fatalf("dense page has %d chars", chars)
	}
	// Warm the engine up (its wasm memory grows on the first pages), so
	// that what is measured is the range's.
	for n := 1; n <= pages; n++ {
		page(n)
	}

	// Whole file: the heap held once every page is annotated and encoded.
	base := liveHeap()
	var responses []*visionpb.AnnotateImageResponse
	for n := 1; n <= pages; n++ {
		responses = append(responses, AnnotatePage(page(n), benchFeatures, "gs://b/dense.pdf"))
	}
	out, err := EncodeFileResponse(NewFileResponse(input, responses))
	if err != nil {
		t.Fatal(err)
	}
	whole := int64(liveHeap()) - int64(base)
	wholeBytes := len(out)
	runtime.KeepAlive(responses)
	runtime.KeepAlive(out)
	responses, out = nil, nil

	// Streaming: the most heap held after any page (its responses dropped,
	// its JSON written).
	cw := &countingDiscard{}
	base = liveHeap()
	fw, err := NewFileWriter(cw, input)
	if err != nil {
		t.Fatal(err)
	}
	held := make([]int64, pages+1) // held[n]: after page n
	for n := 1; n <= pages; n++ {
		r := AnnotatePage(page(n), benchFeatures, "gs://b/dense.pdf")
		if err := fw.WritePage(r); err != nil {
			t.Fatal(err)
		}
		// The page's response is still referenced here: it is counted.
		held[n] = int64(liveHeap()) - int64(base)
		runtime.KeepAlive(r)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if cw.n != int64(wholeBytes) {
		t.Errorf("streamed %d bytes, whole file is %d", cw.n, wholeBytes)
	}
	perPage := float64(wholeBytes) / pages
	// A stray allocation elsewhere in the process can inflate one sample:
	// compare the least of the first and of the last three.
	early, late := slices.Min(held[1:4]), slices.Min(held[pages-2:])
	t.Logf("%d dense pages, %.0f JSON bytes a page: whole file holds %.1f MB (%.0f kB a page); streaming holds %.1f MB after 3 pages, %.1f MB after %d (max %.1f MB)",
		pages, perPage, float64(whole)/1e6, float64(whole)/pages/1e3, float64(early)/1e6, float64(late)/1e6, pages, float64(slices.Max(held))/1e6)
	// Streaming holds about one page (its responses, its JSON and the
	// encoder's buffer), however many pages were written.
	if late > early+2*int64(perPage) {
		t.Errorf("streaming heap grows with the range: %d bytes after 3 pages, %d after %d", early, late, pages)
	}
	if late*4 > whole {
		t.Errorf("streaming holds %d bytes, whole file %d: want at most a quarter", late, whole)
	}
}

type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkDenseRange annotates and encodes a 16-page range of dense
// pages (extracted once) as a whole file and streamed, reporting bytes
// allocated per page; TestStreamingMemoryPerPage measures the heap held.
func BenchmarkDenseRange(b *testing.B) {
	const pages = 16
	doc := openDense(b, pages)
	ps := make([]*Page, pages)
	for i := range ps {
		p, err := doc.Page(context.Background(), i+1)
		if err != nil {
			b.Fatal(err)
		}
		ps[i] = p
	}
	input := &visionpb.InputConfig{GcsSource: &visionpb.GcsSource{Uri: "gs://b/dense.pdf"}, MimeType: "application/pdf"}
	b.Run("whole", func(b *testing.B) {
		allocatedPerPage(b, pages, func() int {
			responses := make([]*visionpb.AnnotateImageResponse, 0, pages)
			for _, p := range ps {
				responses = append(responses, AnnotatePage(p, benchFeatures, "gs://b/dense.pdf"))
			}
			out, err := EncodeFileResponse(NewFileResponse(input, responses))
			if err != nil {
				b.Fatal(err)
			}
			return len(out)
		})
	})
	b.Run("streamed", func(b *testing.B) {
		allocatedPerPage(b, pages, func() int {
			var w countingDiscard
			fw, err := NewFileWriter(&w, input)
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range ps {
				if err := fw.WritePage(AnnotatePage(p, benchFeatures, "gs://b/dense.pdf")); err != nil {
					b.Fatal(err)
				}
			}
			if err := fw.Close(); err != nil {
				b.Fatal(err)
			}
			return int(w.n)
		})
	})
}

// allocatedPerPage runs f (one range of pages) b.N times and reports the
// bytes allocated per page and the output's JSON bytes per page.
func allocatedPerPage(b *testing.B, pages int, f func() int) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var out int
	for b.Loop() {
		out = f()
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N*pages), "alloc-B/page")
	b.ReportMetric(float64(out)/float64(pages), "json-B/page")
}
