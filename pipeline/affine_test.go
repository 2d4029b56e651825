package pipeline

import (
	"math"
	"testing"
)

func TestAffine(t *testing.T) {
	letter := affine{a: 612, d: 792}               // an image drawn over a Letter page
	shrink := affine{a: 0.5, d: 0.5, e: 10, f: 20} // a form scaled down and moved
	turn := affine{b: 1, c: -1, e: 792}            // a form turned 90° counter-clockwise
	tests := []struct {
		name       string
		m          affine
		l, b, r, t float64
		upright    bool
	}{
		{"identity", identity, 0, 0, 1, 1, true},
		{"image on the page", letter, 0, 0, 612, 792, true},
		{"image in a scaled form", letter.then(shrink), 10, 20, 316, 416, true},
		{"image in a turned form", letter.then(turn), 0, 0, 792, 612, false},
		{"flipped image", affine{a: 612, d: -792, f: 792}, 0, 0, 612, 792, false},
		{"NaN entry", affine{a: math.NaN(), d: 1}, 0, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, b, r, top := tt.m.bounds()
			if math.Abs(l-tt.l)+math.Abs(b-tt.b)+math.Abs(r-tt.r)+math.Abs(top-tt.t) > 1e-9 {
				t.Errorf("bounds = %v %v %v %v, want %v %v %v %v", l, b, r, top, tt.l, tt.b, tt.r, tt.t)
			}
			if got := tt.m.upright(); got != tt.upright {
				t.Errorf("upright = %v, want %v", got, tt.upright)
			}
		})
	}
}

func TestPageTransformCover(t *testing.T) {
	tf := newPageTransform(0, 0, 612, 792, 0)
	for _, c := range []struct {
		l, b, r, t, want float64
	}{
		{0, 0, 612, 792, 1},
		{-100, -100, 1000, 1000, 1}, // spills over the crop box
		{0, 0, 306, 792, 0.5},
		{700, 0, 800, 792, 0}, // off the page
	} {
		if got := tf.cover(c.l, c.b, c.r, c.t); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("cover(%v %v %v %v) = %v, want %v", c.l, c.b, c.r, c.t, got, c.want)
		}
	}
}
