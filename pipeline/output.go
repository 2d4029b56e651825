package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
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
// page's error comes before its fullTextAnnotation); deeper messages are
// already declared in that order.
func EncodeFileResponse(resp *visionpb.AnnotateFileResponse) ([]byte, error) {
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
