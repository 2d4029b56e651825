package pipeline

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// NewFileResponse builds the content of one output file: input echoed, then
// one response per page in the order given (page order).
func NewFileResponse(input *visionpb.InputConfig, pages []*visionpb.AnnotateImageResponse) *visionpb.AnnotateFileResponse {
	return &visionpb.AnnotateFileResponse{InputConfig: input, Responses: pages}
}

// EncodeFileResponse encodes resp as Vision writes output files: proto3 JSON
// with lowerCamel names and enums as names, compact on one line, no trailing
// newline. Fields of the file response, of each page response and of the
// input config appear in field-number order, as in Vision's files (so a
// page's error comes before its fullTextAnnotation); deeper messages appear
// in declaration order, as protojson writes them.
//
// The messages Folio fills (text annotations, context, errors without
// details) are written by a hand-written encoder over the generated types,
// which produces the same bytes as protojson (see encodeGeneric, kept as
// the reference and as the fallback): a page response carrying anything
// else (faces, labels, Any details, ...) is written through protojson, and
// so is the whole file when its own error has details.
//
// EncodeFileResponse is FileWriter writing to memory; use a FileWriter to
// stream a file instead of holding it whole.
func EncodeFileResponse(resp *visionpb.AnnotateFileResponse) ([]byte, error) {
	if resp == nil || !fastStatus(resp.Error) {
		return encodeGeneric(resp)
	}
	// A FileWriter without an io.Writer appends the whole file to its
	// buffer, allocated once.
	fw := &FileWriter{e: jsonEncoder{b: make([]byte, 0, sizeHint(resp))}, tail: resp}
	fw.head(resp.InputConfig)
	for _, r := range resp.Responses {
		fw.page(r)
	}
	fw.finish()
	if fw.err != nil {
		return nil, fw.err
	}
	return fw.e.b, nil
}

// FileWriter streams one output file to an io.Writer, a page response at a
// time, so that a range's output never has to be held in memory whole: the
// bytes written are exactly those of EncodeFileResponse(NewFileResponse(input,
// pages)) for the pages given to WritePage, in order. Each page is encoded
// into a buffer that is reused for the next page and written with a single
// Write call (the first one also carries the file's opening and inputConfig),
// so the writer's memory is bounded by the largest page.
//
// The first error, of encoding or of writing, is kept: later calls return it
// and write nothing more. A page that fails to encode (invalid UTF-8) is
// not written at all. A FileWriter is not safe for concurrent use.
type FileWriter struct {
	w     io.Writer // nil: accumulate everything in e.b (EncodeFileResponse)
	e     jsonEncoder
	o     obj // the file object: whether a field has been written
	pages int
	// tail holds the file fields after responses (totalPages, error) that
	// EncodeFileResponse writes; nil for a streamed file.
	tail   *visionpb.AnnotateFileResponse
	err    error
	closed bool
}

var errFileWriterClosed = errors.New("pipeline: FileWriter is closed")

// NewFileWriter starts an output file echoing input (which may be nil) on w.
// Nothing is written to w until the first WritePage or Close. It fails only
// when input cannot be encoded (invalid UTF-8).
func NewFileWriter(w io.Writer, input *visionpb.InputConfig) (*FileWriter, error) {
	fw := &FileWriter{w: w}
	fw.head(input)
	if fw.err != nil {
		return nil, fw.err
	}
	return fw, nil
}

// WritePage encodes r as the next entry of responses and writes it. The
// FileWriter keeps no reference to r.
func (fw *FileWriter) WritePage(r *visionpb.AnnotateImageResponse) error {
	if fw.closed && fw.err == nil {
		return errFileWriterClosed
	}
	fw.page(r)
	return fw.err
}

// WriteEncodedPage writes b, a page entry made by [EncodePage], as the next
// entry of responses: the way to assemble a file from pages encoded
// elsewhere (by other workers) without decoding them.
func (fw *FileWriter) WriteEncodedPage(b []byte) error {
	if fw.closed && fw.err == nil {
		return errFileWriterClosed
	}
	if fw.err != nil {
		return fw.err
	}
	fw.entry()
	fw.e.b = append(fw.e.b, b...)
	fw.flush()
	return fw.err
}

// EncodePage encodes r as one entry of an output file's responses, the bytes
// that [FileWriter.WritePage] would write for it. It appends to buf.
func EncodePage(buf []byte, r *visionpb.AnnotateImageResponse) ([]byte, error) {
	e := jsonEncoder{b: buf}
	e.anyImageResponse(r)
	if e.err != nil {
		return buf, fmt.Errorf("pipeline: encode page response: %w", e.err)
	}
	return e.b, nil
}

// Close writes the end of the file (closing responses and the object). It
// does not close the underlying io.Writer. Calling Close again returns the
// first call's result.
func (fw *FileWriter) Close() error {
	if fw.closed {
		return fw.err
	}
	fw.finish()
	return fw.err
}

// head encodes the opening of the file object and its inputConfig; they are
// written with the first page.
func (fw *FileWriter) head(input *visionpb.InputConfig) {
	fw.e.b = append(fw.e.b, '{')
	if input != nil {
		fw.e.key(&fw.o, "inputConfig")
		fw.e.inputConfig(input)
	}
	fw.check()
}

// page encodes and writes one entry of responses.
func (fw *FileWriter) page(r *visionpb.AnnotateImageResponse) {
	if fw.err != nil {
		return
	}
	fw.entry()
	fw.e.anyImageResponse(r)
	fw.check()
	fw.flush()
}

// entry starts the next entry of responses: the array's opening before the
// first, a comma before the others.
func (fw *FileWriter) entry() {
	if fw.pages == 0 {
		fw.e.key(&fw.o, "responses")
		fw.e.b = append(fw.e.b, '[')
	} else {
		fw.e.b = append(fw.e.b, ',')
	}
	fw.pages++
}

// finish encodes and writes the end of the file.
func (fw *FileWriter) finish() {
	if fw.closed {
		return
	}
	fw.closed = true
	if fw.err != nil {
		return
	}
	if fw.pages > 0 {
		fw.e.b = append(fw.e.b, ']')
	}
	if t := fw.tail; t != nil {
		fw.e.i32(&fw.o, "totalPages", t.TotalPages)
		if t.Error != nil {
			fw.e.key(&fw.o, "error")
			fw.e.status(t.Error)
		}
	}
	fw.e.b = append(fw.e.b, '}')
	fw.check()
	fw.flush()
}

// check moves an encoding error to fw.err.
func (fw *FileWriter) check() {
	if fw.e.err != nil && fw.err == nil {
		fw.err = fmt.Errorf("pipeline: encode file response: %w", fw.e.err)
	}
}

// flush writes the encoded bytes to w and empties the buffer, keeping its
// capacity for the next page.
func (fw *FileWriter) flush() {
	if fw.w == nil || fw.err != nil {
		return
	}
	_, err := fw.w.Write(fw.e.b)
	fw.e.b = fw.e.b[:0]
	if err != nil {
		fw.err = fmt.Errorf("pipeline: write file response: %w", err)
	}
}

// encodeGeneric is EncodeFileResponse built on protojson, one field at a
// time: slow (a few ms per page) but complete.
func encodeGeneric(resp *visionpb.AnnotateFileResponse) ([]byte, error) {
	var buf bytes.Buffer
	err := encodeOrdered(&buf, resp, func(buf *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) (bool, error) {
		switch fd.Name() {
		case "responses":
			buf.WriteString(`"responses":[`)
			l := v.List()
			for i := range l.Len() {
				if i > 0 {
					buf.WriteByte(',')
				}
				if err := encodeOrdered(buf, l.Get(i).Message().Interface(), nil); err != nil {
					return true, err
				}
			}
			buf.WriteByte(']')
			return true, nil
		case "input_config":
			buf.WriteString(`"inputConfig":`)
			return true, encodeOrdered(buf, v.Message().Interface(), nil)
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: encode file response: %w", err)
	}
	var out bytes.Buffer
	out.Grow(buf.Len())
	if err := json.Compact(&out, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("pipeline: compact file response: %w", err)
	}
	return out.Bytes(), nil
}

// encodeOrdered writes m as a JSON object whose populated fields appear in
// field-number order. special may write a field itself (returning true);
// other fields are encoded by protojson, one at a time.
func encodeOrdered(buf *bytes.Buffer, m proto.Message, special func(*bytes.Buffer, protoreflect.FieldDescriptor, protoreflect.Value) (bool, error)) error {
	rm := m.ProtoReflect()
	type field struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var fs []field
	rm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fs = append(fs, field{fd, v})
		return true
	})
	slices.SortFunc(fs, func(a, b field) int { return int(a.fd.Number() - b.fd.Number()) })
	buf.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			buf.WriteByte(',')
		}
		if special != nil {
			done, err := special(buf, f.fd, f.v)
			if err != nil {
				return err
			}
			if done {
				continue
			}
		}
		one := rm.New()
		one.Set(f.fd, f.v)
		b, err := protojson.Marshal(one.Interface())
		if err != nil {
			return err
		}
		b = bytes.TrimSpace(b)
		if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
			return fmt.Errorf("unexpected JSON for field %s", f.fd.Name())
		}
		buf.Write(bytes.TrimSpace(b[1 : len(b)-1]))
	}
	buf.WriteByte('}')
	return nil
}

// fastFile reports whether every message of resp is one the hand-written
// encoder writes completely. Page responses are checked field by field
// through reflection (one Range per page), so a field added to
// AnnotateImageResponse by a newer visionpb falls back to protojson; the
// deeper messages' field sets are pinned by TestFastEncoderCoversFields.
func fastFile(resp *visionpb.AnnotateFileResponse) bool {
	if resp == nil || !fastStatus(resp.Error) {
		return false
	}
	for _, r := range resp.Responses {
		if !fastPage(r) {
			return false
		}
	}
	return true
}

// fastPage reports whether the hand-written encoder writes r completely.
func fastPage(r *visionpb.AnnotateImageResponse) bool {
	if r == nil {
		return true
	}
	ok := true
	r.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		switch fd.Number() {
		case fieldTextAnnotations, fieldError, fieldFullTextAnnotation, fieldContext:
			return true
		}
		ok = false
		return false
	})
	if !ok || !fastStatus(r.Error) {
		return false
	}
	for _, ea := range r.TextAnnotations {
		if len(ea.GetLocations()) > 0 || len(ea.GetProperties()) > 0 {
			return false
		}
	}
	return true
}

// Field numbers of AnnotateImageResponse that the fast encoder writes.
const (
	fieldTextAnnotations    = 5
	fieldError              = 9
	fieldFullTextAnnotation = 12
	fieldContext            = 21
)

func fastStatus(s *statuspb.Status) bool { return len(s.GetDetails()) == 0 }

// sizeHint guesses the encoded size from the number of elements and
// boxes, a little over the usual result, so that the output buffer is
// allocated once.
func sizeHint(resp *visionpb.AnnotateFileResponse) int {
	const (
		perBox     = 180 // four normalized vertices
		perElement = 60  // braces, confidence, a break
	)
	n := 512
	for _, r := range resp.Responses {
		ta := r.GetFullTextAnnotation()
		n += 512 + len(ta.GetText()) + len(ta.GetText())/8
		for _, p := range ta.GetPages() {
			for _, b := range p.GetBlocks() {
				n += perBox + perElement
				for _, para := range b.GetParagraphs() {
					n += perBox + perElement
					for _, w := range para.GetWords() {
						n += perBox + perElement
						for _, s := range w.GetSymbols() {
							n += 32 + len(s.GetText())
							if s.GetBoundingBox() != nil {
								n += perBox
							}
							if s.GetProperty() != nil {
								n += 40
							}
						}
					}
				}
			}
		}
		for _, ea := range r.GetTextAnnotations() {
			n += perBox + perElement + len(ea.GetDescription())
		}
	}
	return n
}

// jsonEncoder appends protojson-compatible JSON to b. Each method writes one
// message (as an object) or one field; the first error is kept in err.
type jsonEncoder struct {
	b   []byte
	err error
}

// obj tracks whether an object has had a field yet.
type obj struct{ any bool }

// key opens a field of the current object: a comma when needed, then the
// quoted name (already JSON-safe) and a colon.
func (e *jsonEncoder) key(o *obj, name string) {
	if o.any {
		e.b = append(e.b, ',')
	}
	o.any = true
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

// list writes a non-empty repeated field as key:[item,...] with each.
func list[T any](e *jsonEncoder, o *obj, key string, items []T, each func(T)) {
	if len(items) == 0 {
		return
	}
	e.key(o, key)
	e.b = append(e.b, '[')
	for i, it := range items {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		each(it)
	}
	e.b = append(e.b, ']')
}

func (e *jsonEncoder) str(s string) {
	b, err := appendJSONString(e.b, s)
	e.b = b
	if err != nil {
		e.fail(err)
	}
}

// float32 field, omitted when zero (proto3 implicit presence; -0 is
// present).
func (e *jsonEncoder) f32(o *obj, name string, v float32) {
	if v == 0 && !math.Signbit(float64(v)) {
		return
	}
	e.key(o, name)
	e.b = appendJSONFloat(e.b, float64(v), 32)
}

// floatMemo remembers where the last few float32 values were written in
// the output, so that repeated values are copied rather than formatted.
type floatMemo struct {
	n    int
	bits [4]uint32
	at   [4][2]int // start and end offsets in jsonEncoder.b
}

// f32memo is f32 through memo.
func (e *jsonEncoder) f32memo(o *obj, name string, v float32, memo *floatMemo) {
	if v == 0 && !math.Signbit(float64(v)) {
		return
	}
	e.key(o, name)
	bits := math.Float32bits(v)
	for i := range min(memo.n, len(memo.bits)) {
		if memo.bits[i] == bits {
			e.b = append(e.b, e.b[memo.at[i][0]:memo.at[i][1]]...)
			return
		}
	}
	start := len(e.b)
	e.b = appendJSONFloat(e.b, float64(v), 32)
	i := memo.n % len(memo.bits)
	memo.bits[i], memo.at[i] = bits, [2]int{start, len(e.b)}
	memo.n++
}

func (e *jsonEncoder) i32(o *obj, name string, v int32) {
	if v == 0 {
		return
	}
	e.key(o, name)
	e.b = strconv.AppendInt(e.b, int64(v), 10)
}

func (e *jsonEncoder) strField(o *obj, name, v string) {
	if v == "" {
		return
	}
	e.key(o, name)
	e.str(v)
}

// enum writes an enum by name, or by number when the value has no name.
func (e *jsonEncoder) enum(o *obj, name string, v int32, names map[int32]string) {
	if v == 0 {
		return
	}
	e.key(o, name)
	if n, ok := names[v]; ok {
		e.b = append(e.b, '"')
		e.b = append(e.b, n...)
		e.b = append(e.b, '"')
		return
	}
	e.b = strconv.AppendInt(e.b, int64(v), 10)
}

// inputConfig writes an InputConfig in field-number order.
func (e *jsonEncoder) inputConfig(c *visionpb.InputConfig) {
	e.b = append(e.b, '{')
	var o obj
	if c.GcsSource != nil {
		e.key(&o, "gcsSource")
		e.b = append(e.b, '{')
		var g obj
		e.strField(&g, "uri", c.GcsSource.Uri)
		e.b = append(e.b, '}')
	}
	e.strField(&o, "mimeType", c.MimeType)
	if len(c.Content) > 0 {
		e.key(&o, "content")
		e.b = append(e.b, '"')
		e.b = base64.StdEncoding.AppendEncode(e.b, c.Content)
		e.b = append(e.b, '"')
	}
	e.b = append(e.b, '}')
}

// imageResponse writes an AnnotateImageResponse in field-number order.
func (e *jsonEncoder) imageResponse(r *visionpb.AnnotateImageResponse) {
	e.b = append(e.b, '{')
	if r == nil {
		e.b = append(e.b, '}')
		return
	}
	var o obj
	list(e, &o, "textAnnotations", r.TextAnnotations, e.entity)
	if r.Error != nil {
		e.key(&o, "error")
		e.status(r.Error)
	}
	if r.FullTextAnnotation != nil {
		e.key(&o, "fullTextAnnotation")
		e.textAnnotation(r.FullTextAnnotation)
	}
	if r.Context != nil {
		e.key(&o, "context")
		e.b = append(e.b, '{')
		var c obj
		e.strField(&c, "uri", r.Context.Uri)
		e.i32(&c, "pageNumber", r.Context.PageNumber)
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, '}')
}

// anyImageResponse writes r with the hand-written encoder when it can, and
// through protojson (encodeOrdered, then compacted) otherwise: both give the
// same bytes for the messages the hand-written encoder knows.
func (e *jsonEncoder) anyImageResponse(r *visionpb.AnnotateImageResponse) {
	if fastPage(r) {
		e.imageResponse(r)
		return
	}
	var buf bytes.Buffer
	if err := encodeOrdered(&buf, r, nil); err != nil {
		e.fail(err)
		return
	}
	out := bytes.NewBuffer(e.b)
	if err := json.Compact(out, buf.Bytes()); err != nil {
		e.fail(err)
	}
	e.b = out.Bytes()
}

func (e *jsonEncoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// status writes a google.rpc.Status without details.
func (e *jsonEncoder) status(s *statuspb.Status) {
	e.b = append(e.b, '{')
	var o obj
	e.i32(&o, "code", s.Code)
	e.strField(&o, "message", s.Message)
	e.b = append(e.b, '}')
}

// entity writes an EntityAnnotation without locations and properties.
func (e *jsonEncoder) entity(a *visionpb.EntityAnnotation) {
	e.b = append(e.b, '{')
	if a == nil {
		e.b = append(e.b, '}')
		return
	}
	var o obj
	e.strField(&o, "mid", a.Mid)
	e.strField(&o, "locale", a.Locale)
	e.strField(&o, "description", a.Description)
	e.f32(&o, "score", a.Score)
	e.f32(&o, "confidence", a.Confidence) //nolint:staticcheck // deprecated, still encoded by protojson
	e.f32(&o, "topicality", a.Topicality)
	e.poly(&o, "boundingPoly", a.BoundingPoly)
	e.b = append(e.b, '}')
}

func (e *jsonEncoder) textAnnotation(t *visionpb.TextAnnotation) {
	e.b = append(e.b, '{')
	var o obj
	list(e, &o, "pages", t.Pages, e.page)
	e.strField(&o, "text", t.Text)
	e.b = append(e.b, '}')
}

func (e *jsonEncoder) page(p *visionpb.Page) {
	e.b = append(e.b, '{')
	if p == nil {
		e.b = append(e.b, '}')
		return
	}
	var o obj
	e.property(&o, p.Property)
	e.i32(&o, "width", p.Width)
	e.i32(&o, "height", p.Height)
	list(e, &o, "blocks", p.Blocks, e.block)
	e.f32(&o, "confidence", p.Confidence)
	e.b = append(e.b, '}')
}

func (e *jsonEncoder) block(b *visionpb.Block) {
	e.b = append(e.b, '{')
	if b == nil {
		e.b = append(e.b, '}')
		return
	}
	var o obj
	e.property(&o, b.Property)
	e.poly(&o, "boundingBox", b.BoundingBox)
	list(e, &o, "paragraphs", b.Paragraphs, e.paragraph)
	e.enum(&o, "blockType", int32(b.BlockType), visionpb.Block_BlockType_name)
	e.f32(&o, "confidence", b.Confidence)
	e.b = append(e.b, '}')
}

func (e *jsonEncoder) paragraph(p *visionpb.Paragraph) {
	e.b = append(e.b, '{')
	if p == nil {
		e.b = append(e.b, '}')
		return
	}
	var o obj
	e.property(&o, p.Property)
	e.poly(&o, "boundingBox", p.BoundingBox)
	list(e, &o, "words", p.Words, e.word)
	e.f32(&o, "confidence", p.Confidence)
	e.b = append(e.b, '}')
}

func (e *jsonEncoder) word(w *visionpb.Word) {
	e.b = append(e.b, '{')
	if w == nil {
		e.b = append(e.b, '}')
		return
	}
	var o obj
	e.property(&o, w.Property)
	e.poly(&o, "boundingBox", w.BoundingBox)
	list(e, &o, "symbols", w.Symbols, e.symbol)
	e.f32(&o, "confidence", w.Confidence)
	e.b = append(e.b, '}')
}

func (e *jsonEncoder) symbol(s *visionpb.Symbol) {
	e.b = append(e.b, '{')
	if s == nil {
		e.b = append(e.b, '}')
		return
	}
	var o obj
	e.property(&o, s.Property)
	e.poly(&o, "boundingBox", s.BoundingBox)
	e.strField(&o, "text", s.Text)
	e.f32(&o, "confidence", s.Confidence)
	e.b = append(e.b, '}')
}

// property writes the "property" field of a text element when it is set.
func (e *jsonEncoder) property(o *obj, p *visionpb.TextAnnotation_TextProperty) {
	if p == nil {
		return
	}
	e.key(o, "property")
	e.b = append(e.b, '{')
	var po obj
	if len(p.DetectedLanguages) > 0 {
		e.key(&po, "detectedLanguages")
		e.b = append(e.b, '[')
		for i, l := range p.DetectedLanguages {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, '{')
			var lo obj
			e.strField(&lo, "languageCode", l.GetLanguageCode())
			e.f32(&lo, "confidence", l.GetConfidence())
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	if db := p.DetectedBreak; db != nil {
		e.key(&po, "detectedBreak")
		e.b = append(e.b, '{')
		var bo obj
		e.enum(&bo, "type", int32(db.Type), visionpb.TextAnnotation_DetectedBreak_BreakType_name)
		if db.IsPrefix {
			e.key(&bo, "isPrefix")
			e.b = append(e.b, "true"...)
		}
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, '}')
}

// poly writes a BoundingPoly field when it is set.
func (e *jsonEncoder) poly(o *obj, name string, p *visionpb.BoundingPoly) {
	if p == nil {
		return
	}
	e.key(o, name)
	e.b = append(e.b, '{')
	var po obj
	if len(p.Vertices) > 0 {
		e.key(&po, "vertices")
		e.b = append(e.b, '[')
		for i, v := range p.Vertices {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, '{')
			var vo obj
			e.i32(&vo, "x", v.GetX())
			e.i32(&vo, "y", v.GetY())
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	if len(p.NormalizedVertices) > 0 {
		e.key(&po, "normalizedVertices")
		e.b = append(e.b, '[')
		// A box's four corners share two x and two y values: each value is
		// formatted once and copied after that.
		var seen floatMemo
		for i, v := range p.NormalizedVertices {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, '{')
			var vo obj
			e.f32memo(&vo, "x", v.GetX(), &seen)
			e.f32memo(&vo, "y", v.GetY(), &seen)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
}

var errInvalidUTF8 = errors.New("string field contains invalid UTF-8")

// appendJSONString quotes s as protojson does: only '"', '\\' and control
// characters are escaped (\b \f \n \r \t, else \u00XX), and invalid UTF-8
// is an error.
func appendJSONString(out []byte, s string) ([]byte, error) {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return out, errInvalidUTF8
			}
			i += n
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	out = append(out, s[start:]...)
	return append(out, '"'), nil
}

// appendJSONFloat formats n as protojson does (encoding/json's rules:
// shortest representation, exponent form below 1e-6 and from 1e21, a
// one-digit negative exponent without its leading zero; NaN and infinities
// as strings).
func appendJSONFloat(out []byte, n float64, bitSize int) []byte {
	switch {
	case math.IsNaN(n):
		return append(out, `"NaN"`...)
	case math.IsInf(n, +1):
		return append(out, `"Infinity"`...)
	case math.IsInf(n, -1):
		return append(out, `"-Infinity"`...)
	case n != 0 && n == math.Trunc(n) && math.Abs(n) < 1<<24:
		// Small integers (confidence 1) print the same through AppendInt.
		return strconv.AppendInt(out, int64(n), 10)
	}
	f := byte('f')
	if abs := math.Abs(n); abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			f = 'e'
		}
	}
	out = strconv.AppendFloat(out, n, f, -1, bitSize)
	if f == 'e' {
		n := len(out)
		if n >= 4 && out[n-4] == 'e' && out[n-3] == '-' && out[n-2] == '0' {
			out[n-2] = out[n-1]
			out = out[:n-1]
		}
	}
	return out
}
