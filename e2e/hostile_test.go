package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/folio-ocr/folio/internal/localrun"
	"github.com/folio-ocr/folio/internal/pdfgen"
	"github.com/folio-ocr/folio/rpcerr"
)

// hostileCase is one broken or hostile PDF and what Folio must do with it.
type hostileCase struct {
	name string
	data []byte
	// want is the outcome: a google.rpc code name for a file that fails
	// whole (its message naming the file), "text" for a file read whole,
	// "blank" for one whose pages are read and have no text, or "page
	// <CODE>" for a file whose pages all fail alone with that code (their
	// messages naming the page). Alternatives are separated by "|".
	want string
}

// The worker's limits in this test: low enough to keep the run short, and
// the reasons the outcomes below are what they are.
const (
	hostilePageTimeout = 8 * time.Second
	hostileMaxPixels   = 25_000_000 // a 200-inch page renders at 25 DPI
)

// Hostile PDFs, one operation each, through a real api and worker
// process: each ends, within a bound, with a clean google.rpc error that
// names the file, per-page errors that name the page, or its text; the
// worker stays up throughout and its peak RSS (VmHWM) stays under a bound.
func TestHostilePDFs(t *testing.T) {
	generated := time.Now()
	cases := hostileCorpus(t)
	t.Logf("corpus of %d files generated in %v", len(cases), time.Since(generated).Round(time.Millisecond))
	f := start(t, 0, func(o *localrun.Options) {
		o.Env = append(o.Env, "PAGE_TIMEOUT="+hostilePageTimeout.String(),
			"MAX_PAGE_PIXELS="+strconv.Itoa(hostileMaxPixels), "OCR_ENGINES=1")
	})
	worker := f.StartWorker()
	c := f.client()
	ctx := testContext(t, 5*time.Minute)
	type row struct {
		name, outcome string
		code          codes.Code
		took          time.Duration
		hwm, child    int64
	}
	var rows []row
	for _, tc := range cases {
		uri := f.Upload("in/hostile/"+tc.name+".pdf", tc.data)
		out := "gs://" + bucket + "/out/hostile/" + tc.name + "/"
		began := time.Now()
		op, err := c.AsyncBatchAnnotateFiles(ctx, &visionpb.AsyncBatchAnnotateFilesRequest{
			Requests: []*visionpb.AsyncAnnotateFileRequest{request(uri, out, 0)},
		})
		if err != nil {
			t.Fatalf("%s: submit: %v", tc.name, err)
		}
		// Every case has at most one page read past the text layer: its
		// page timeout, and a margin for the plan, the reopen after a
		// timeout and the output.
		bound := 3*hostilePageTimeout + 10*time.Second
		opCtx := testContext(t, bound)
		_, err = wait(opCtx, t, op)
		took := time.Since(began)
		if opCtx.Err() != nil {
			t.Errorf("%s: not done after %v", tc.name, bound)
		}
		outcome, code := hostileOutcome(t, f, tc, uri, "out/hostile/"+tc.name+"/", err)
		select {
		case <-worker.Done:
			t.Fatalf("%s: the worker exited: %v", tc.name, worker.ProcessState)
		default:
		}
		hwm := vmKB(t, worker.Process.Pid, "VmHWM")
		var child int64 // the pdfium children still running
		for _, pid := range childPIDs(t, worker.Process.Pid) {
			if kb, ok := vmKBOf(pid, "VmHWM"); ok {
				child = max(child, kb)
			}
		}
		if child > 1536<<10 {
			t.Errorf("%s: a pdfium child's peak RSS is %d MB, over 1536 MB", tc.name, child>>10)
		}
		rows = append(rows, row{tc.name, outcome, code, took, hwm, child})
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-24s %-34s %8s %5s %9s %9s\n", "file", "outcome", "seconds", "code", "VmHWM MB", "child MB")
	for _, r := range rows {
		fmt.Fprintf(&table, "%-24s %-34s %8.2f %5d %9d %9d\n", r.name, r.outcome, r.took.Seconds(), r.code, r.hwm>>10, r.child>>10)
	}
	t.Logf("peak RSS (VmHWM) of the worker and of its largest live pdfium child after each file:%s", table.String())
	// The bound: the worker at rest (about 110 MB), plus one PDFium
	// instance at its memory cap (pipeline.DefaultMaxMemory, 1 GiB: the
	// bombs reach it), plus room for Go's heap. Measured: 1138 MB.
	if hwm := vmKB(t, worker.Process.Pid, "VmHWM"); hwm > 1536<<10 {
		t.Errorf("worker peak RSS %d MB, over 1536 MB", hwm>>10)
	}
}

// hostileOutcome checks one case's result against tc.want and describes
// it for the table, with its code: the operation's, or its pages' (0 when
// they have none).
func hostileOutcome(t *testing.T, f *folio, tc hostileCase, uri, prefix string, err error) (string, codes.Code) {
	t.Helper()
	if err != nil {
		st, _ := status.FromError(err)
		got := rpcerr.Name(st.Code())
		if !wanted(tc.want, got) || !strings.Contains(st.Message(), uri) {
			t.Errorf("%s: operation error %v; want %s naming %s", tc.name, err, tc.want, uri)
		}
		t.Logf("%s: %s", tc.name, st.Message())
		return got, st.Code()
	}
	pages, blank, failed, first := 0, 0, map[codes.Code]int{}, ""
	for _, o := range f.Outputs(prefix) {
		for _, r := range o.GetResponses() {
			pages++
			n := r.GetContext().GetPageNumber()
			if e := r.GetError(); e != nil {
				failed[codes.Code(e.GetCode())]++
				if first == "" {
					first = e.GetMessage()
				}
				if want := fmt.Sprintf("page %d of %s: ", n, uri); !strings.HasPrefix(e.GetMessage(), want) {
					t.Errorf("%s: page %d error %q does not start %q", tc.name, n, e.GetMessage(), want)
				}
				continue
			}
			if r.GetFullTextAnnotation().GetText() == "" {
				blank++
			}
		}
	}
	got, code := "text", codes.OK
	if blank > 0 {
		got = "blank" // no text, no error: a page OCR found nothing on
		if blank != pages {
			t.Errorf("%s: %d of %d pages blank", tc.name, blank, pages)
		}
	}
	for c, n := range failed {
		if n != pages {
			t.Errorf("%s: %d of %d pages failed with %s", tc.name, n, pages, rpcerr.Name(c))
		}
		got, code = "page "+rpcerr.Name(c), c
	}
	if pages == 0 {
		t.Errorf("%s: done without pages", tc.name)
	}
	if !wanted(tc.want, got) {
		t.Errorf("%s: outcome %s, want %s", tc.name, got, tc.want)
	}
	if first != "" {
		t.Logf("%s: %s", tc.name, first)
	}
	return fmt.Sprintf("%s, %d pages", got, pages), code
}

func wanted(want, got string) bool {
	for _, w := range strings.Split(want, "|") {
		if w == got {
			return true
		}
	}
	return false
}

// vmKB returns a VmXXX field of /proc/<pid>/status in kB.
func vmKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	kb, ok := vmKBOf(pid, field)
	if !ok {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	return kb
}

// vmKBOf returns a VmXXX field of /proc/<pid>/status in kB, if the process
// is there and has it.
func vmKBOf(pid int, field string) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

// hostileCorpus generates the hostile files.
func hostileCorpus(t *testing.T) []hostileCase {
	t.Helper()
	doc := pdfgen.Document(3)
	xref := bytes.LastIndex(doc, []byte("xref"))
	font := "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
	page := func(extra string) string {
		return "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> " + extra +
			" >> /Contents 4 0 R >>"
	}
	text := "BT /F1 12 Tf 72 720 Td (A page of hostile input, readable all the same.) Tj ET"
	stream := func(s string) string { return fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(s), s) }

	cases := []hostileCase{
		{"control", doc, "text"},
		{"truncated-header", doc[:20], "INVALID_ARGUMENT"},
		{"truncated-half", doc[:len(doc)/2], "INVALID_ARGUMENT"},
		{"truncated-at-xref", doc[:xref], "text"},
		{"truncated-trailer", doc[:len(doc)-30], "INVALID_ARGUMENT"},
		{"xref-offsets-wrong", shiftXref(doc, 7), "text"},
		{"xref-missing", append(slices.Clone(doc[:xref]), "startxref\n999999\n%%EOF\n"...), "text"},
		{"encrypted-rc4", readFile(t, "../pipeline/testdata/encrypted.pdf"), "INVALID_ARGUMENT"},
		{"zero-pages", pdfgen.Raw([]string{"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"}), "INVALID_ARGUMENT"},
		// /Kids pointing back to the root and to the node itself: with
		// the counts the file claims, and with counts of one page.
		{"page-tree-loop", pdfgen.Raw([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [5 0 R 6 0 R] /Count 1000000 >>",
			font, stream(text),
			page(""),
			"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 6 0 R] /Count 999999 >>",
		}), "INVALID_ARGUMENT"},
		{"page-tree-loop-count-1", pdfgen.Raw([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [6 0 R 5 0 R] /Count 1 >>",
			font, stream(text),
			page(""),
			"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 6 0 R] /Count 0 >>",
		}), "page INVALID_ARGUMENT"},
		{"content-flate-bomb", pdfgen.Raw([]string{
			"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [5 0 R] /Count 1 >>", font,
			pdfgen.FlateBomb([]byte{' '}, 2<<30, ""), page(""),
		}), "page DEADLINE_EXCEEDED|page INVALID_ARGUMENT"}, // PDFium stops decoding at the memory cap, then parses what it has
		{"image-flate-bomb", pdfgen.Raw([]string{
			"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [5 0 R] /Count 1 >>", font,
			stream("q 612 0 0 792 0 0 cm /Im1 Do Q"), page("/XObject << /Im1 6 0 R >>"),
			pdfgen.FlateBomb([]byte{0x80}, 30000*30000,
				"/Type /XObject /Subtype /Image /Width 30000 /Height 30000 /ColorSpace /DeviceGray /BitsPerComponent 8"),
		}), "blank|page DEADLINE_EXCEEDED"}, // rendered (plain gray) in about 7 s, near the page timeout
		{"100000-pages", pdfgen.ManyPages(100_000), "INVALID_ARGUMENT"},
		{"200-inch-page", pdfgen.Raw([]string{
			"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [5 0 R] /Count 1 >>", font,
			stream("BT /F1 400 Tf 1000 8000 Td (Big page) Tj ET"),
			"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>",
		}), "text"},
		{"content-never-ends", []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
			"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n" +
			"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >> endobj\n" +
			"4 0 obj << /Length 999999999 >>\nstream\n" + strings.Repeat("0 0 m 100 100 l S\n", 50_000)), "INVALID_ARGUMENT"},
		{"content-never-ends-xref", neverEnds(text), "text"},
		{"content-endless-ops", pdfgen.SlowPages(256), "page DEADLINE_EXCEEDED"}, // 17 s of "q Q" in pdfium's parser
		{"content-enormous", pdfgen.Raw([]string{
			"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [5 0 R] /Count 1 >>", font,
			pdfgen.FlateBomb([]byte("BT /F1 12 Tf 72 720 Td (x) Tj ET "), 512<<20, ""), page(""),
		}), "page INVALID_ARGUMENT|page DEADLINE_EXCEEDED"}, // past the memory cap in about 3 s
		{"font-garbage", pdfgen.Raw([]string{
			"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
			"<< /Type /Font /Subtype /TrueType /BaseFont /Garbage /FirstChar 32 /LastChar 126 /FontDescriptor 6 0 R >>",
			stream(text), page(""),
			"<< /Type /FontDescriptor /FontName /Garbage /Flags 32 /FontBBox [0 0 1000 1000] /ItalicAngle 0 /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 /FontFile2 7 0 R >>",
			garbageStream(64 << 10),
		}), "text"},
	}
	cases = append(cases, hostileCase{"control-again", doc, "text"}) // the worker still serves
	if qpdf, err := exec.LookPath("qpdf"); err == nil {
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
		if err := os.WriteFile(in, pdfgen.Document(2), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(qpdf, "--encrypt", "user", "owner", "256", "--", in, out).CombinedOutput(); err != nil {
			t.Fatalf("qpdf --encrypt: %v\n%s", err, b)
		}
		cases = append(cases, hostileCase{"encrypted-aes256", readFile(t, out), "INVALID_ARGUMENT"})
	} else {
		t.Log("qpdf not installed: no AES-256 encrypted case")
	}
	return cases
}

// shiftXref returns pdf with every offset of its cross-reference table off
// by d bytes.
func shiftXref(pdf []byte, d int) []byte {
	lines := strings.Split(string(pdf), "\n")
	for i, l := range lines {
		if len(l) == 19 && strings.HasSuffix(l, " 00000 n ") {
			off, _ := strconv.Atoi(l[:10])
			lines[i] = fmt.Sprintf("%010d 00000 n ", off+d)
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// neverEnds returns a PDF whose content stream claims a gigabyte and has
// no endstream: the file's cross-reference table follows its content.
func neverEnds(content string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	var offsets []int
	for _, o := range []string{
		"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
		"<< /Length 999999999 >>\nstream\n" + content + "\n",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	} {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s", len(offsets), o)
		if len(offsets) != 4 {
			b.WriteString("\nendobj\n")
		}
	}
	return pdfgen.Trailer(&b, offsets)
}

// garbageStream is a stream of n pseudo-random bytes.
func garbageStream(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return fmt.Sprintf("<< /Length %d /Length1 %d >>\nstream\n%s\nendstream", n, n, b)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
