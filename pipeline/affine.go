package pipeline

import (
	"math"

	"github.com/klippa-app/go-pdfium/structs"
)

// affine is a PDF transformation matrix [a b c d e f], mapping a point
// (x, y) to (a·x + c·y + e, b·x + d·y + f).
type affine struct{ a, b, c, d, e, f float64 }

// identity maps every point to itself.
var identity = affine{a: 1, d: 1}

func fromPDFium(m structs.FPDF_FS_MATRIX) affine {
	return affine{float64(m.A), float64(m.B), float64(m.C), float64(m.D), float64(m.E), float64(m.F)}
}

// then is m followed by n: the matrix of an object drawn with m inside a
// form drawn with n.
func (m affine) then(n affine) affine {
	return affine{
		a: m.a*n.a + m.b*n.c, b: m.a*n.b + m.b*n.d,
		c: m.c*n.a + m.d*n.c, d: m.c*n.b + m.d*n.d,
		e: m.e*n.a + m.f*n.c + n.e, f: m.e*n.b + m.f*n.d + n.f,
	}
}

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.c*y + m.e, m.b*x + m.d*y + m.f
}

// bounds is the box around the unit square as m places it: where an image
// drawn with m lands. A matrix with a non-finite entry gives an empty box.
func (m affine) bounds() (l, b, r, t float64) {
	if !finite(m.a, m.b, m.c, m.d, m.e, m.f) {
		return 0, 0, 0, 0
	}
	l, b, r, t = math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range [4][2]float64{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		x, y := m.apply(p[0], p[1])
		l, b, r, t = min(l, x), min(b, y), max(r, x), max(t, y)
	}
	return l, b, r, t
}

// upright reports whether m scales without turning, skewing or flipping
// (to within a thousandth).
func (m affine) upright() bool {
	return m.a > 0 && m.d > 0 && math.Abs(m.b) <= 1e-3*m.a && math.Abs(m.c) <= 1e-3*m.d
}
