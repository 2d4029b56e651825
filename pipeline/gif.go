package pipeline

import (
	"image"
	"io"
)

// GIFPages decodes every frame of a GIF as the full page a viewer shows at
// that frame: frames are drawn onto the logical screen in order, honouring
// their position, transparency and disposal method, and the result is
// flattened onto white in gray. each is called with pages numbered from 1;
// the image passed to it is reused for the next page, so copy what must be
// kept. A file that is not a GIF, is damaged, or whose screen exceeds
// maxPixels (if positive) is an error wrapping ErrInvalidInput (a frame cut
// short or damaged fails as its page, after the pages before it); an error
// from each is returned as it is.
//
// Frames are read one at a time (see gifStream): the screen size is checked
// before anything is allocated, and a GIF of any number of frames costs
// about two screens of memory. Frames that reach past the logical screen,
// as ImageMagick writes frames of different sizes, are clipped to it as
// browsers do; a frame wholly outside it leaves the page as the frames
// before it left it.
func GIFPages(r io.ReadSeeker, maxPixels int, each func(n int, page *image.Gray) error) error {
	s, err := openGIFStream(r, maxPixels)
	if err != nil {
		return err
	}
	for n := 1; n <= s.frames; n++ {
		p, err := s.page(n)
		if err != nil {
			return err
		}
		if err := each(n, p); err != nil {
			return err
		}
	}
	return nil
}

// flattenOnWhite writes src composited over white into dst, in gray.
func flattenOnWhite(dst *image.Gray, src *image.RGBA) {
	for i, j := 0, 0; i < len(src.Pix); i, j = i+4, j+1 {
		r, g, b, a := uint32(src.Pix[i]), uint32(src.Pix[i+1]), uint32(src.Pix[i+2]), uint32(src.Pix[i+3])
		// Premultiplied: over white adds (255-a) to each channel.
		y := (19595*(r+255-a) + 38470*(g+255-a) + 7471*(b+255-a) + 1<<15) >> 16
		dst.Pix[j] = uint8(min(y, 255))
	}
}
