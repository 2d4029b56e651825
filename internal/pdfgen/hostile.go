package pdfgen

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
)

// Hostile PDFs: files built to break a reader, for tests of what Folio
// does with them. Each is generated in memory in well under a second.

// ManyPages returns a valid PDF of n pages that share one content stream
// ("Page of many"), so that n = 100,000 costs 16 MB.
func ManyPages(n int) []byte {
	var b bytes.Buffer
	offsets := make([]int, 0, n+4)
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	var kids strings.Builder
	for i := range n {
		fmt.Fprintf(&kids, "%d 0 R ", i+5)
	}
	obj(fmt.Sprintf("<< /Type /Pages /Count %d /Kids [%s] >>", n, kids.String()))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	content := "BT /F1 12 Tf 72 720 Td (Page of many) Tj ET"
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content)+1, content))
	for range n {
		obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>")
	}
	return Trailer(&b, offsets)
}

// FlateBomb returns a stream dictionary's body and data: pattern repeated
// to n bytes (n rounded down to whole patterns), compressed twice with
// /FlateDecode, so that gigabytes take kilobytes. extra is added to the
// dictionary (an image's /Width and /Height, say).
func FlateBomb(pattern []byte, n int64, extra string) string {
	inner := flateRepeat(pattern, n)
	var outer bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&outer, zlib.DefaultCompression)
	_, _ = zw.Write(inner)
	_ = zw.Close()
	return fmt.Sprintf("<< /Length %d /Filter [/FlateDecode /FlateDecode] %s >>\nstream\n%s\nendstream",
		outer.Len(), extra, outer.Bytes())
}

// flateRepeat returns a zlib stream that inflates to pattern repeated
// n/len(pattern) times: the pattern as literals, then matches of 258 bytes
// at the pattern's distance, in one fixed-Huffman deflate block. It costs
// 13 to 26 bits per 258 bytes, against compress/flate's several seconds a
// gigabyte.
func flateRepeat(pattern []byte, n int64) []byte {
	p := int64(len(pattern))
	if p == 0 || p > 32768 {
		panic("pdfgen: flateRepeat pattern of 1 to 32768 bytes")
	}
	n -= n % p
	if n < p {
		n = p
	}
	var w bitWriter
	w.buf = append(w.buf, 0x78, 0x01) // zlib: deflate, 32 KB window, no dictionary
	w.bits(1, 1)                      // BFINAL
	w.bits(1, 2)                      // BTYPE 01: fixed Huffman
	for _, c := range pattern {
		w.literal(int(c))
	}
	rest := n - p
	// One match, length code 285 (258 bytes) and the distance, as bits.
	dcode, dextra, dbits := distanceCode(int(p))
	match := reverse(0xC5, 8) | reverse(uint32(dcode), 5)<<8 | uint32(dextra)<<13
	for ; rest >= 258; rest -= 258 {
		w.bits(match, 13+dbits)
	}
	for i := int64(0); i < rest; i++ { // the remainder as literals
		w.literal(int(pattern[(n-rest+i)%p]))
	}
	w.huff(0, 7) // end of block
	w.flush()
	// Adler-32 of k periods in closed form: one period of sum S and
	// weighted sum W (each byte times the bytes from it to the period's
	// end) takes (a, b) to (a+S, b+p·a+W), so k of them from (1, 0) give
	// a = 1+k·S and b = k·p + p·S·k(k-1)/2 + k·W.
	const mod = 65521
	var sum, weighted uint64
	for i, c := range pattern {
		sum += uint64(c)
		weighted += uint64(int(p)-i) * uint64(c)
	}
	k := uint64(n / p)
	half := (k / 2 % mod) * ((k - 1) % mod) // k(k-1)/2, for even k
	if k%2 == 1 {
		half = (k % mod) * ((k - 1) / 2 % mod)
	}
	sum, weighted, pm, km := sum%mod, weighted%mod, uint64(p)%mod, k%mod
	a := (1 + km*sum) % mod
	b := (km*pm + pm*sum%mod*(half%mod) + km*weighted) % mod
	return append(w.buf, byte(b>>8), byte(b), byte(a>>8), byte(a))
}

// distanceCode returns the deflate distance code of d with its extra bits.
func distanceCode(d int) (code, extra, bits int) {
	if d <= 4 {
		return d - 1, 0, 0
	}
	base := 5
	for code, bits = 4, 1; ; code, bits = code+2, bits+1 {
		size := 1 << bits
		if d < base+size {
			return code, d - base, bits
		}
		if d < base+2*size {
			return code + 1, d - base - size, bits
		}
		base += 2 * size
	}
}

// bitWriter writes a deflate bit stream: values LSB first, Huffman codes
// MSB first.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) bits(v uint32, n int) {
	w.acc |= uint64(v) << w.nacc
	w.nacc += uint(n)
	for w.nacc >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

func (w *bitWriter) huff(code uint32, n int) { w.bits(reverse(code, n), n) }

// reverse returns the n low bits of code in reverse order.
func reverse(code uint32, n int) uint32 {
	var r uint32
	for i := 0; i < n; i++ {
		r = r<<1 | (code>>i)&1
	}
	return r
}

func (w *bitWriter) literal(c int) {
	if c < 144 {
		w.huff(uint32(0x30+c), 8)
	} else {
		w.huff(uint32(0x190+c-144), 9)
	}
}

func (w *bitWriter) flush() {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc, w.nacc = 0, 0
	}
}

// SlowPages returns a PDF whose page i reads "Slow page i" and, where
// mb[i-1] > 0, carries a second content stream of that many MB of "q Q"
// (save and restore the graphics state) compressed to a few kB: PDFium
// parses about 15 MB of it a second (2 cores), in little memory, so 256
// makes a page that outlasts any reasonable page timeout.
func SlowPages(mb ...int) []byte {
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
	kids := make([]string, len(mb))
	for i, size := range mb {
		n := len(objs) + 1 // the page's object number; its streams follow
		kids[i] = fmt.Sprintf("%d 0 R", n)
		text := fmt.Sprintf("BT /F1 12 Tf 72 720 Td (Slow page %d) Tj ET", i+1)
		contents := fmt.Sprintf("%d 0 R", n+1)
		if size > 0 {
			contents += fmt.Sprintf(" %d 0 R", n+2)
		}
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents [%s] >>", contents),
			fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(text), text))
		if size > 0 {
			objs = append(objs, FlateBomb([]byte("q Q "), int64(size)<<20, ""))
		}
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(mb))
	return Raw(objs)
}
