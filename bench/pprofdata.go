package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// pprofData is the part of a pprof profile (profile.proto, as
// runtime/pprof writes it) that the profile mode needs: each sample's
// stack as function names, innermost first (inlined calls expanded), its
// values and its string labels.
type pprofData struct {
	types   []string // sample types, such as "samples", "cpu", "alloc_space"
	samples []pprofSample
}

type pprofSample struct {
	stack  []string
	values []int64
	labels map[string]string
}

// index is the position of sample type typ among the values, or -1.
func (p *pprofData) index(typ string) int {
	for i, t := range p.types {
		if t == typ {
			return i
		}
	}
	return -1
}

// parsePprof decodes a gzipped (or plain) profile.proto.
func parsePprof(b []byte) (*pprofData, error) {
	if len(b) > 1 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("pprof: %w", err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("pprof: %w", err)
		}
	}
	type rawSample struct {
		locs   []uint64
		values []int64
		labels [][2]int64 // key, str as string indices
	}
	var (
		strs      []string
		typeIdx   []int64
		raws      []rawSample
		locFuncs  = map[uint64][]uint64{} // location id → function ids, innermost first
		funcNames = map[uint64]int64{}    // function id → name index
	)
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch num {
		case 1: // sample_type
			return eachField(v, func(num protowire.Number, _ protowire.Type, _ []byte, n uint64) error {
				if num == 1 {
					typeIdx = append(typeIdx, int64(n))
				}
				return nil
			})
		case 2: // sample
			var s rawSample
			err := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch num {
				case 1:
					return eachVarint(typ, v, n, func(x uint64) { s.locs = append(s.locs, x) })
				case 2:
					return eachVarint(typ, v, n, func(x uint64) { s.values = append(s.values, int64(x)) })
				case 3:
					var kv [2]int64
					err := eachField(v, func(num protowire.Number, _ protowire.Type, _ []byte, n uint64) error {
						if num == 1 || num == 2 {
							kv[num-1] = int64(n)
						}
						return nil
					})
					s.labels = append(s.labels, kv)
					return err
				}
				return nil
			})
			raws = append(raws, s)
			return err
		case 4: // location
			var id uint64
			var funcs []uint64
			err := eachField(v, func(num protowire.Number, _ protowire.Type, v []byte, n uint64) error {
				switch num {
				case 1:
					id = n
				case 4: // line
					return eachField(v, func(num protowire.Number, _ protowire.Type, _ []byte, n uint64) error {
						if num == 1 {
							funcs = append(funcs, n)
						}
						return nil
					})
				}
				return nil
			})
			locFuncs[id] = funcs
			return err
		case 5: // function
			var id uint64
			var name int64
			err := eachField(v, func(num protowire.Number, _ protowire.Type, _ []byte, n uint64) error {
				switch num {
				case 1:
					id = n
				case 2:
					name = int64(n)
				}
				return nil
			})
			funcNames[id] = name
			return err
		case 6: // string_table
			strs = append(strs, string(v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pprof: %w", err)
	}
	str := func(i int64) string {
		if i < 0 || int(i) >= len(strs) {
			return ""
		}
		return strs[i]
	}
	p := &pprofData{}
	for _, t := range typeIdx {
		p.types = append(p.types, str(t))
	}
	for _, r := range raws {
		s := pprofSample{values: r.values}
		for _, l := range r.locs {
			for _, f := range locFuncs[l] {
				s.stack = append(s.stack, str(funcNames[f]))
			}
		}
		for _, kv := range r.labels {
			if s.labels == nil {
				s.labels = map[string]string{}
			}
			s.labels[str(kv[0])] = str(kv[1])
		}
		p.samples = append(p.samples, s)
	}
	return p, nil
}

// eachField calls f for every field of the message in b: bytes fields
// with v, varint fields with n.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return protowire.ParseError(k)
		}
		b = b[k:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.VarintType:
			n, k = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, k = protowire.ConsumeBytes(b)
		default:
			k = protowire.ConsumeFieldValue(num, typ, b)
		}
		if k < 0 {
			return protowire.ParseError(k)
		}
		b = b[k:]
		if err := f(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

// eachVarint calls f for a repeated varint field's values, packed or not.
func eachVarint(typ protowire.Type, v []byte, n uint64, f func(uint64)) error {
	if typ == protowire.VarintType {
		f(n)
		return nil
	}
	for len(v) > 0 {
		x, k := protowire.ConsumeVarint(v)
		if k < 0 {
			return errors.New("bad packed varint")
		}
		f(x)
		v = v[k:]
	}
	return nil
}
