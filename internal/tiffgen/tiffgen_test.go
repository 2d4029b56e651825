package tiffgen

import (
	"bytes"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestOrient checks Orient against ImageMagick's -auto-orient, which turns
// a TIFF page as its Orientation tag says: every orientation must come out
// as the upright page.
func TestOrient(t *testing.T) {
	if _, err := exec.LookPath("convert"); err != nil {
		t.Skip("ImageMagick convert not installed (scripts/deps.sh test installs it)")
	}
	img, err := Text(20, "Fox 42")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for o := 1; o <= 8; o++ {
		in := filepath.Join(dir, fmt.Sprintf("o%d.tif", o))
		if err := os.WriteFile(in, Encode(Gray(Orient(img, o)).Set(TagOrientation, Short, uint32(o))), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("convert", in, "-auto-orient", "-depth", "8", "gray:-").Output()
		if err != nil {
			t.Fatalf("orientation %d: convert: %v", o, err)
		}
		if !bytes.Equal(out, img.Pix) {
			t.Errorf("orientation %d: ImageMagick does not show the page upright", o)
		}
	}
	if got := Orient(img, 6).Rect; got != image.Rect(0, 0, img.Rect.Dy(), img.Rect.Dx()) {
		t.Errorf("orientation 6: stored %v, want the sides swapped", got)
	}
}
