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
}

// scan walks the page's top-level objects: their types, the largest image
// and, on pages an image covers, the text render modes. A born-digital page
// costs two PDFium calls per object.
func (d *pdfDoc) scan(ref requests.Page, tf pageTransform) (pageScan, error) {
	var sc pageScan
	cnt, err := d.inst.FPDFPage_CountObjects(&requests.FPDFPage_CountObjects{Page: ref})
	if err != nil {
		return sc, err
	}
	area := tf.w0 * tf.h0
	var texts []references.FPDF_PAGEOBJECT
	for i := 0; i < cnt.Count; i++ {
		obj, err := d.inst.FPDFPage_GetObject(&requests.FPDFPage_GetObject{Page: ref, Index: i})
		if err != nil {
			return sc, err
		}
		typ, err := d.inst.FPDFPageObj_GetType(&requests.FPDFPageObj_GetType{PageObject: obj.PageObject})
		if err != nil {
			return sc, err
		}
		switch typ.Type {
		case enums.FPDF_PAGEOBJ_TEXT:
			texts = append(texts, obj.PageObject)
		case enums.FPDF_PAGEOBJ_IMAGE:
			sc.images++
			b, err := d.inst.FPDFPageObj_GetBounds(&requests.FPDFPageObj_GetBounds{PageObject: obj.PageObject})
			if err != nil {
				return sc, err
			}
			w := math.Min(float64(b.Right), tf.left+tf.w0) - math.Max(float64(b.Left), tf.left)
			h := math.Min(float64(b.Top), tf.bottom+tf.h0) - math.Max(float64(b.Bottom), tf.bottom)
			if w > 0 && h > 0 && area > 0 {
				if c := w * h / area; c > sc.cover {
					sc.cover, sc.image = c, obj.PageObject
				}
			}
		default:
			sc.others++
		}
	}
	sc.textObjects = len(texts)
	if sc.cover < scanCover {
		sc.others += len(texts)
		return sc, nil
	}
	for _, t := range texts {
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

// Raster returns page n as an image for OCR. A scanned page (one JPEG image
// covering the page, upright, with nothing else visible) gives the JPEG
// itself, which the OCR engine decodes natively at the scan's resolution;
// any other page is rendered in gray at opts.DPI, lowered if the page would
// exceed opts.MaxPixels. Annotations are rendered with the page.
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
	if sc.images == 1 && sc.others == 0 && sc.cover >= fullCover && tf.rot == 0 {
		if r, ok, err := d.embeddedJPEG(ref, sc.image, tf, opts); err != nil || ok {
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
	g := image.NewGray(image.Rect(0, 0, src.Rect.Dx(), src.Rect.Dy()))
	for y := 0; y < g.Rect.Dy(); y++ {
		copy(g.Pix[y*g.Stride:y*g.Stride+g.Rect.Dx()], src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y):])
	}
	return &Raster{Gray: g, DPI: float64(dpi)}, nil
}

// embeddedJPEG returns the page's image as its JPEG stream when that stands
// for the page as displayed: DCT-encoded only, gray or RGB, upright and
// unflipped, within the pixel limit. ok is false when the page must be
// rendered instead.
func (d *pdfDoc) embeddedJPEG(ref requests.Page, img references.FPDF_PAGEOBJECT, tf pageTransform, opts RasterOptions) (r *Raster, ok bool, err error) {
	fc, err := d.inst.FPDFImageObj_GetImageFilterCount(&requests.FPDFImageObj_GetImageFilterCount{ImageObject: img})
	if err != nil || fc.Count != 1 {
		return nil, false, err
	}
	f, err := d.inst.FPDFImageObj_GetImageFilter(&requests.FPDFImageObj_GetImageFilter{ImageObject: img, Index: 0})
	if err != nil || f.ImageFilter != "DCTDecode" {
		return nil, false, err
	}
	md, err := d.inst.FPDFImageObj_GetImageMetadata(&requests.FPDFImageObj_GetImageMetadata{ImageObject: img, Page: ref})
	if err != nil {
		return nil, false, err
	}
	meta := md.ImageMetadata
	switch meta.Colorspace {
	case enums.FPDF_COLORSPACE_DEVICEGRAY, enums.FPDF_COLORSPACE_DEVICERGB, enums.FPDF_COLORSPACE_CALGRAY, enums.FPDF_COLORSPACE_CALRGB:
	default:
		return nil, false, nil // CMYK, ICC, indexed...: let PDFium convert
	}
	if meta.Width == 0 || meta.Height == 0 || uint64(meta.Width)*uint64(meta.Height) > uint64(opts.maxPixels()) {
		return nil, false, nil
	}
	mx, err := d.inst.FPDFPageObj_GetMatrix(&requests.FPDFPageObj_GetMatrix{PageObject: img})
	if err != nil {
		return nil, false, err
	}
	m := mx.Matrix
	if m.A <= 0 || m.D <= 0 || math.Abs(float64(m.B)) > 1e-3*float64(m.A) || math.Abs(float64(m.C)) > 1e-3*float64(m.D) {
		return nil, false, nil // rotated, skewed or flipped
	}
	raw, err := d.inst.FPDFImageObj_GetImageDataRaw(&requests.FPDFImageObj_GetImageDataRaw{ImageObject: img})
	if err != nil || len(raw.Data) == 0 {
		return nil, false, err
	}
	data := make([]byte, len(raw.Data)) // a view of WebAssembly memory
	copy(data, raw.Data)
	return &Raster{Data: data, DPI: float64(meta.Width) / (float64(m.A) / 72)}, true, nil
}
