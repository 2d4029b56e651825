package pipeline

import (
	"context"
	"fmt"
	"image"
	"math"

	"github.com/klippa-app/go-pdfium/enums"
	"github.com/klippa-app/go-pdfium/references"
	"github.com/klippa-app/go-pdfium/requests"
)

// pageScan is what routing and rasterizing need to know of a page's
// objects.
type pageScan struct {
	textObjects int
	invisible   int     // text objects drawn invisibly
	others      int     // objects other than images and invisible text
	images      int     // image objects
	cover       float64 // the largest image's share of the page
	image       references.FPDF_PAGEOBJECT
	placement   affine // the largest image's unit square on the page
}

// Limits of the object walk: form XObjects nested deeper, or objects past
// the budget, are counted as visible content without being opened, so a
// page built to be expensive to walk is rendered rather than walked.
const (
	maxFormDepth   = 8
	maxScanObjects = 20000
)

// scan walks the page's objects, descending into form XObjects (producers
// such as pdfpages wrap a scanned page in one): their types, the largest
// image and, on pages an image covers, the text render modes. A
// born-digital page costs two PDFium calls per object.
func (d *pdfDoc) scan(ref requests.Page, tf pageTransform) (pageScan, error) {
	var sc pageScan
	cnt, err := d.inst.FPDFPage_CountObjects(&requests.FPDFPage_CountObjects{Page: ref})
	if err != nil {
		return sc, err
	}
	w := scanWalk{d: d, tf: tf, sc: &sc}
	err = w.objects(cnt.Count, func(i int) (references.FPDF_PAGEOBJECT, error) {
		obj, err := d.inst.FPDFPage_GetObject(&requests.FPDFPage_GetObject{Page: ref, Index: i})
		if err != nil {
			return "", err
		}
		return obj.PageObject, nil
	}, identity, 0)
	if err != nil {
		return sc, err
	}
	sc.textObjects = len(w.texts)
	if sc.cover < scanCover {
		sc.others += len(w.texts)
		return sc, nil
	}
	for _, t := range w.texts {
		m, err := d.inst.FPDFTextObj_GetTextRenderMode(&requests.FPDFTextObj_GetTextRenderMode{PageObject: t})
		if err != nil {
			return sc, err
		}
		switch m.TextRenderMode {
		case enums.FPDF_TEXTRENDERMODE_INVISIBLE, enums.FPDF_TEXTRENDERMODE_CLIP:
			sc.invisible++
		default:
			sc.others++
		}
	}
	return sc, nil
}

// scanWalk is one page's object walk.
type scanWalk struct {
	d       *pdfDoc
	tf      pageTransform
	sc      *pageScan
	texts   []references.FPDF_PAGEOBJECT
	visited int
}

// objects visits n objects, got by index, drawn through the matrix ctm at
// form depth depth.
func (w *scanWalk) objects(n int, get func(int) (references.FPDF_PAGEOBJECT, error), ctm affine, depth int) error {
	inst := w.d.inst
	for i := 0; i < n; i++ {
		if w.visited++; w.visited > maxScanObjects {
			w.sc.others++
			return nil
		}
		obj, err := get(i)
		if err != nil {
			return err
		}
		typ, err := inst.FPDFPageObj_GetType(&requests.FPDFPageObj_GetType{PageObject: obj})
		if err != nil {
			return err
		}
		switch typ.Type {
		case enums.FPDF_PAGEOBJ_TEXT:
			w.texts = append(w.texts, obj)
		case enums.FPDF_PAGEOBJ_IMAGE:
			w.sc.images++
			m, err := inst.FPDFPageObj_GetMatrix(&requests.FPDFPageObj_GetMatrix{PageObject: obj})
			if err != nil {
				return err
			}
			place := fromPDFium(m.Matrix).then(ctm)
			if c := w.tf.cover(place.bounds()); c > w.sc.cover {
				w.sc.cover, w.sc.image, w.sc.placement = c, obj, place
			}
		case enums.FPDF_PAGEOBJ_FORM:
			if depth >= maxFormDepth {
				w.sc.others++
				continue
			}
			m, err := inst.FPDFPageObj_GetMatrix(&requests.FPDFPageObj_GetMatrix{PageObject: obj})
			if err != nil {
				return err
			}
			cnt, err := inst.FPDFFormObj_CountObjects(&requests.FPDFFormObj_CountObjects{PageObject: obj})
			if err != nil {
				return err
			}
			err = w.objects(cnt.Count, func(i int) (references.FPDF_PAGEOBJECT, error) {
				o, err := inst.FPDFFormObj_GetObject(&requests.FPDFFormObj_GetObject{PageObject: obj, Index: uint64(i)})
				if err != nil {
					return "", err
				}
				return o.PageObject, nil
			}, fromPDFium(m.Matrix).then(ctm), depth+1)
			if err != nil {
				return err
			}
		default:
			w.sc.others++
		}
	}
	return nil
}

// Raster returns page n as an image for OCR. A scanned page (one image
// covering the page, upright in the page's own space, with nothing else
// visible) gives its image at the scan's own resolution, with the page's
// /Rotate as the raster's Turn: a JPEG as it is stored, which the OCR engine
// decodes natively, any other image (CCITT fax, Flate, JBIG2, ...) as
// PDFium decodes it. Any other page is rendered in gray at opts.DPI,
// lowered if the page would exceed opts.MaxPixels, with its annotations.
func (d *pdfDoc) Raster(ctx context.Context, n int, opts RasterOptions) (*Raster, error) {
	var out *Raster
	err := d.call(ctx, n, "render", func() error {
		return d.withPage(n, func(ref requests.Page, tf pageTransform) error {
			r, err := d.raster(ref, tf, opts)
			out = r
			return err
		})
	})
	return out, err
}

// fullCover is the share of a page an image must cover to stand for the
// whole page.
const fullCover = 0.98

func (d *pdfDoc) raster(ref requests.Page, tf pageTransform, opts RasterOptions) (*Raster, error) {
	sc, err := d.scan(ref, tf)
	if err != nil {
		return nil, err
	}
	if sc.images == 1 && sc.others == 0 && sc.cover >= fullCover {
		r, ok, err := d.embedded(ref, sc, opts)
		if ok {
			r.Turn = tf.rot // a scan stored turned: the recognizer turns it as /Rotate shows it
		}
		if err != nil || ok {
			return r, err
		}
	}
	dpi := opts.dpi()
	wIn, hIn := tf.width/72, tf.height/72
	if px := wIn * hIn * float64(dpi) * float64(dpi); px > float64(opts.maxPixels()) {
		dpi = int(float64(dpi) * math.Sqrt(float64(opts.maxPixels())/px))
	}
	if dpi < 1 || wIn*float64(dpi) < 1 || hIn*float64(dpi) < 1 {
		return nil, fmt.Errorf("page of %.0f×%.0f points cannot be rendered within %d pixels: %w",
			tf.width, tf.height, opts.maxPixels(), ErrInvalidInput)
	}
	res, err := d.inst.RenderPageInDPI(&requests.RenderPageInDPI{
		Page:        ref,
		DPI:         dpi,
		RenderFlags: enums.FPDF_RENDER_FLAG_ANNOT,
		ImageFormat: requests.RenderImageFormatGrayscale,
	})
	if err != nil {
		return nil, err
	}
	defer res.Cleanup()
	src, ok := res.Result.RenderedImage.(*image.Gray)
	if !ok {
		return nil, fmt.Errorf("pdfium rendered %T, not gray", res.Result.RenderedImage)
	}
	// The pixels live in WebAssembly memory until Cleanup: copy them.
	g, err := grayFromBitmap(src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y):], src.Rect.Dx(), src.Rect.Dy(), src.Stride, 1)
	if err != nil {
		return nil, err
	}
	return &Raster{Gray: g, DPI: float64(dpi)}, nil
}

// embedded returns the page's one image when it stands for the page as
// displayed: gray or RGB (not a stencil mask, indexed or CMYK, whose
// colours PDFium's rendering applies), drawn opaque (no alpha, soft mask
// or blend mode in the graphics state), upright and unflipped, with square
// pixels, within the pixel limit. An image's own /SMask is not seen:
// PDFium's API does not expose it, and scans do not carry one. A JPEG is returned as stored; any other
// image is decoded by PDFium at its own resolution. ok is false when the
// page must be rendered instead.
func (d *pdfDoc) embedded(ref requests.Page, sc pageScan, opts RasterOptions) (r *Raster, ok bool, err error) {
	img, place := sc.image, sc.placement
	md, err := d.inst.FPDFImageObj_GetImageMetadata(&requests.FPDFImageObj_GetImageMetadata{ImageObject: img, Page: ref})
	if err != nil {
		return nil, false, err
	}
	meta := md.ImageMetadata
	switch meta.Colorspace {
	case enums.FPDF_COLORSPACE_DEVICEGRAY, enums.FPDF_COLORSPACE_DEVICERGB, enums.FPDF_COLORSPACE_CALGRAY, enums.FPDF_COLORSPACE_CALRGB:
	default:
		return nil, false, nil
	}
	if meta.Width == 0 || meta.Height == 0 || uint64(meta.Width)*uint64(meta.Height) > uint64(opts.maxPixels()) || !place.upright() {
		return nil, false, nil
	}
	xdpi, ydpi := float64(meta.Width)/(place.a/72), float64(meta.Height)/(place.d/72)
	if math.Abs(xdpi-ydpi) > 0.02*xdpi {
		return nil, false, nil // a fax's 204×98: let PDFium square the pixels
	}
	tr, err := d.inst.FPDFPageObj_HasTransparency(&requests.FPDFPageObj_HasTransparency{PageObject: img})
	if err != nil || tr.HasTransparency {
		return nil, false, err
	}
	fc, err := d.inst.FPDFImageObj_GetImageFilterCount(&requests.FPDFImageObj_GetImageFilterCount{ImageObject: img})
	if err != nil {
		return nil, false, err
	}
	if fc.Count == 1 {
		f, err := d.inst.FPDFImageObj_GetImageFilter(&requests.FPDFImageObj_GetImageFilter{ImageObject: img, Index: 0})
		if err != nil {
			return nil, false, err
		}
		if f.ImageFilter == "DCTDecode" {
			raw, err := d.inst.FPDFImageObj_GetImageDataRaw(&requests.FPDFImageObj_GetImageDataRaw{ImageObject: img})
			if err != nil || len(raw.Data) == 0 {
				return nil, false, err
			}
			data := make([]byte, len(raw.Data)) // a view of WebAssembly memory
			copy(data, raw.Data)
			return &Raster{Data: data, DPI: xdpi}, true, nil
		}
	}
	g, err := d.imageBitmap(img)
	if err != nil || g == nil {
		return nil, false, err
	}
	if g.Rect.Dx() != int(meta.Width) || g.Rect.Dy() != int(meta.Height) {
		return nil, false, nil
	}
	return &Raster{Gray: g, DPI: xdpi}, true, nil
}

// imageBitmap decodes an image object at its own resolution into gray
// pixels, or returns nil when PDFium gives a format without a gray reading.
func (d *pdfDoc) imageBitmap(img references.FPDF_PAGEOBJECT) (*image.Gray, error) {
	bm, err := d.inst.FPDFImageObj_GetBitmap(&requests.FPDFImageObj_GetBitmap{ImageObject: img})
	if err != nil {
		return nil, err
	}
	defer func() {
		_, _ = d.inst.FPDFBitmap_Destroy(&requests.FPDFBitmap_Destroy{Bitmap: bm.Bitmap})
	}()
	f, err := d.inst.FPDFBitmap_GetFormat(&requests.FPDFBitmap_GetFormat{Bitmap: bm.Bitmap})
	if err != nil {
		return nil, err
	}
	var bpp int
	switch f.Format {
	case enums.FPDF_BITMAP_FORMAT_GRAY:
		bpp = 1
	case enums.FPDF_BITMAP_FORMAT_BGR:
		bpp = 3
	case enums.FPDF_BITMAP_FORMAT_BGRX, enums.FPDF_BITMAP_FORMAT_BGRA:
		bpp = 4
	default:
		return nil, nil
	}
	w, err := d.inst.FPDFBitmap_GetWidth(&requests.FPDFBitmap_GetWidth{Bitmap: bm.Bitmap})
	if err != nil {
		return nil, err
	}
	h, err := d.inst.FPDFBitmap_GetHeight(&requests.FPDFBitmap_GetHeight{Bitmap: bm.Bitmap})
	if err != nil {
		return nil, err
	}
	st, err := d.inst.FPDFBitmap_GetStride(&requests.FPDFBitmap_GetStride{Bitmap: bm.Bitmap})
	if err != nil {
		return nil, err
	}
	buf, err := d.inst.FPDFBitmap_GetBuffer(&requests.FPDFBitmap_GetBuffer{Bitmap: bm.Bitmap})
	if err != nil {
		return nil, err
	}
	return grayFromBitmap(buf.Buffer, w.Width, h.Height, st.Stride, bpp)
}

// grayFromBitmap copies a PDFium bitmap (1 byte per pixel gray, or 3-4
// bytes blue, green, red[, unused]) out of WebAssembly memory into gray
// pixels, weighting colour as ITU-R BT.601 luma.
func grayFromBitmap(buf []byte, w, h, stride, bpp int) (*image.Gray, error) {
	if w <= 0 || h <= 0 || stride < w*bpp || len(buf) < (h-1)*stride+w*bpp {
		return nil, fmt.Errorf("pdfium bitmap of %d×%d, stride %d, has %d bytes", w, h, stride, len(buf))
	}
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		src, dst := buf[y*stride:], g.Pix[y*g.Stride:y*g.Stride+w]
		if bpp == 1 {
			copy(dst, src)
			continue
		}
		for x := range dst {
			p := src[x*bpp:]
			dst[x] = uint8((299*uint32(p[2]) + 587*uint32(p[1]) + 114*uint32(p[0]) + 500) / 1000)
		}
	}
	return g, nil
}
