#!/usr/bin/env bash
# Regenerates the scanned-document golden fixtures in testdata/scans/ (see README.md).
#
# Source text: the born-digital R manuals shipped by Debian's r-doc-pdf package
# (/usr/share/R/doc/manual/*.pdf, pdfTeX, US Letter). Every page image is a raster of
# one of those pages (or, for two-column.pdf, of a troff re-typesetting of their text),
# given scanner-like damage: small skew, Gaussian noise, slight blur, level change, JPEG.
#
# Deterministic: fixed noise seeds, fixed dates (img2pdf --nodate, qpdf --deterministic-id,
# /CreationDate rewritten in tesseract output). The fixtures are committed; rerun this only
# to change them, then check the diff of the *.txt ground truth by eye.
#
# Needs (Debian 12): r-doc-pdf poppler-utils imagemagick img2pdf qpdf libtiff-tools
#   ghostscript groff-base tesseract-ocr tesseract-ocr-eng python3
# Usage: testdata/scans/make.sh            (writes next to itself)
#        CHECK=1 testdata/scans/make.sh    (also OCRs every page and prints the CER table)
set -euo pipefail
export LC_ALL=C.UTF-8 OMP_THREAD_LIMIT=1 SOURCE_DATE_EPOCH=946684800
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE}
MAN=${MAN:-/usr/share/R/doc/manual}
# /usr/bin/convert is Debian's ImageMagick 6; a wrapper earlier on PATH may alter images.
CONVERT=${CONVERT:-$( [ -x /usr/bin/convert ] && echo /usr/bin/convert || command -v convert )}
H="python3 $HERE/helpers.py"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$OUT"

# render PDF PAGE DPI Y1 OUT.pgm — gray raster of PAGE with everything below Y1 points
# painted white (the fixtures keep ~1000 characters per 300 DPI page so that each JPEG
# stays under ~150 KB; a full R-manual page costs 300-450 KB at 300 DPI).
render() {
  local pdf=$1 page=$2 dpi=$3 y1=$4 out=$5
  pdftoppm -r "$dpi" -gray -f "$page" -l "$page" -singlefile "$pdf" "$W/r"
  "$CONVERT" "$W/r.pgm" -fill white -stroke none \
    -draw "rectangle 0,$(( y1 * dpi / 72 )) 99999,99999" "$out"
}

# scan IN OUT.jpg DPI SEED ANGLE QUALITY ROT — rotate by ROT (90 = clockwise), skew by
# ANGLE degrees, noise, blur, levels, back onto a Letter-sized canvas, gray JPEG.
scan() {
  local in=$1 out=$2 dpi=$3 seed=$4 ang=$5 q=$6 rot=${7:-0}
  local w=$(( 17 * dpi / 2 )) h=$(( 11 * dpi ))
  if [ $(( rot % 180 )) -ne 0 ]; then local t=$w; w=$h; h=$t; fi
  local blur; blur=$(awk -v d="$dpi" 'BEGIN{printf "%.2f", 0.9*d/300}')
  "$CONVERT" "$in" -rotate "$rot" -seed "$seed" -background white -rotate "$ang" \
    -attenuate 0.4 +noise Gaussian -blur "0x$blur" -level 8%,92% \
    -gravity center -extent "${w}x${h}" +repage -strip -interlace JPEG \
    -units PixelsPerInch -density "$dpi" -quality "$q" "$out"
}

gt() { $H gt "$@"; }   # gt PDF PAGE Y0 Y1 [X0 X1] > file

R_INTRO=$MAN/R-intro.pdf R_DATA=$MAN/R-data.pdf R_FAQ=$MAN/R-FAQ.pdf R_ADMIN=$MAN/R-admin.pdf
rm -f "$OUT"/*.p[0-9]*.txt

# 1. scanned.pdf — R-intro p9 (top 1000 characters), 300 DPI, +0.5 deg skew
render "$R_INTRO" 9 300 272 "$W/s.pgm"
scan "$W/s.pgm" "$W/scanned.jpg" 300 1 0.5 30
img2pdf --nodate --engine internal -o "$OUT/scanned.pdf" "$W/scanned.jpg"
gt "$R_INTRO" 9 0 272 > "$OUT/scanned.p1.txt"

# 2. rotated.pdf — p1: R-intro p10 turned 90 deg clockwise (landscape page, text runs top to
#    bottom); p2: R-FAQ p14 upside down. 200 DPI. No /Rotate: the pixels are rotated.
render "$R_INTRO" 10 200 300 "$W/r1.pgm"
scan "$W/r1.pgm" "$W/rot1.jpg" 200 2 -0.4 30 90
render "$R_FAQ" 14 200 303 "$W/r2.pgm"
scan "$W/r2.pgm" "$W/rot2.jpg" 200 3 0.3 30 180
img2pdf --nodate --engine internal -o "$OUT/rotated.pdf" "$W/rot1.jpg" "$W/rot2.jpg"
gt "$R_INTRO" 10 0 300 > "$OUT/rotated.p1.txt"
gt "$R_FAQ" 14 0 303 > "$OUT/rotated.p2.txt"

# 3. two-column.pdf — the text of R-FAQ §2.1 re-typeset by troff (groff-base, Times 10/12)
#    into two 3-inch columns, rendered at 300 DPI and scanned. Left column, then right.
{
  printf '.pl 11i\n.po 1i\n.ll 3i\n.ps 10\n.vs 12p\n.hy 0\n.lg 0\n.ad b\n.sp 0.9i\n.mk\n'
  printf '.ft B\n.ps 12\n2.1 What is R?\n.ft R\n.ps 10\n.sp 0.6v\n'
  $H paras "$R_FAQ" 7 160 282 | sed 's/\\/\\e/g; s/^\./\\\&./; s/^/.ti 0.2i\n/; s/$/\n.sp 0.4v/'
  printf '.rt\n.po 4.5i\n'
  $H paras "$R_FAQ" 7 285 417 | sed 's/\\/\\e/g; s/^\./\\\&./; s/^/.ti 0.2i\n/; s/$/\n.sp 0.4v/'
} > "$W/twocol.tr"
groff -k -Tps -P-pletter "$W/twocol.tr" > "$W/twocol.ps"
ps2pdf -dPDFSETTINGS=/prepress "$W/twocol.ps" "$W/twocol.pdf"
pdftoppm -r 300 -gray -singlefile "$W/twocol.pdf" "$W/tc"
scan "$W/tc.pgm" "$W/twocol.jpg" 300 4 -0.3 30
img2pdf --nodate --engine internal -o "$OUT/two-column.pdf" "$W/twocol.jpg"
{ gt "$W/twocol.pdf" 1 0 792 0 306; echo; gt "$W/twocol.pdf" 1 0 792 306 612; } > "$OUT/two-column.p1.txt"

# 4. g4.tiff — 3 pages, bilevel CCITT G4, 300 DPI: R-data p7 (full), R-data p8 (to the
#    footnote), R-admin p6 (to the footnote)
i=0
for spec in "$R_DATA 7 468" "$R_DATA 8 688" "$R_ADMIN 6 450"; do
  set -- $spec; i=$((i+1))
  render "$1" "$2" 300 "$3" "$W/g.pgm"
  "$CONVERT" "$W/g.pgm" -seed $((10+i)) -background white -rotate "0.$((2+i))" \
    -attenuate 0.2 +noise Gaussian -blur 0x0.5 -gravity center -extent 2550x3300 +repage \
    -threshold 55% -type bilevel -compress Group4 -strip \
    -units PixelsPerInch -density 300 "$W/g4-$i.tif"
  gt "$1" "$2" 0 "$3" > "$OUT/g4.p$i.txt"
done
tiffcp -c g4 "$W"/g4-1.tif "$W"/g4-2.tif "$W"/g4-3.tif "$OUT/g4.tiff"

# 5. jpeg.tiff — 2 pages, 8-bit gray, JPEG-compressed (Compression=7), 200 DPI:
#    R-intro p12 and R-admin p9 (tops)
render "$R_INTRO" 12 200 246 "$W/j1.pgm"
scan "$W/j1.pgm" "$W/j1.jpg" 200 5 0.6 100
render "$R_ADMIN" 9 200 197 "$W/j2.pgm"
scan "$W/j2.pgm" "$W/j2.jpg" 200 6 -0.5 100
"$CONVERT" "$W/j1.jpg" "$W/j2.jpg" -colorspace Gray -depth 8 -compress JPEG -quality 30 \
  -units PixelsPerInch -density 200 -strip "$OUT/jpeg.tiff"
gt "$R_INTRO" 12 0 246 > "$OUT/jpeg.p1.txt"
gt "$R_ADMIN" 9 0 197 > "$OUT/jpeg.p2.txt"

# 6. animated.gif — R-intro p8 at 150 DPI on a 1275x825 (8.5x5.5 in) canvas. Frame 1 is
#    the full canvas with the text down to y=205pt; frames 2 and 3 are partial frames
#    (938 px wide strips at x=166) adding y=205..313pt and y=313..387pt. Disposal none,
#    so the canvas accumulates; ground truth of frame N = composite after frame N.
pdftoppm -r 150 -gray -f 8 -l 8 -singlefile "$R_INTRO" "$W/a"
px() { echo $(( $1 * 150 / 72 )); }
X0=$(px 80) X1=$(px 530) Y1=$(px 205) Y2=$(px 313) Y3=$(px 387)
"$CONVERT" "$W/a.pgm" -crop 1275x825+0+0 +repage -fill white -stroke none \
  -draw "rectangle 0,$Y1 1274,824" -dither None -colors 16 "$W/f1.gif"
"$CONVERT" "$W/a.pgm" -crop $((X1-X0))x$((Y2-Y1))+$X0+$Y1 +repage -dither None -colors 16 "$W/f2.gif"
"$CONVERT" "$W/a.pgm" -crop $((X1-X0))x$((Y3-Y2))+$X0+$Y2 +repage -dither None -colors 16 "$W/f3.gif"
"$CONVERT" -dispose None -delay 100 -loop 0 \
  -page 1275x825+0+0 "$W/f1.gif" -page 1275x825+$X0+$Y1 "$W/f2.gif" \
  -page 1275x825+$X0+$Y2 "$W/f3.gif" "$OUT/animated.gif"
gt "$R_INTRO" 8 0 205 > "$OUT/animated.p1.txt"
gt "$R_INTRO" 8 0 313 > "$OUT/animated.p2.txt"
gt "$R_INTRO" 8 0 387 > "$OUT/animated.p3.txt"

# 7. mixed.pdf — p1 born-digital (R-admin p10), p2 scanned image only (R-data p9 top,
#    300 DPI), p3 born-digital (R-admin p12)
render "$R_DATA" 9 300 266 "$W/m.pgm"
scan "$W/m.pgm" "$W/mixed.jpg" 300 7 -0.6 30
img2pdf --nodate --engine internal -o "$W/mixed-scan.pdf" "$W/mixed.jpg"
# The two born-digital pages go through Ghostscript's pdfwrite once, only to re-subset their
# Type 1 fonts to the glyphs used (128 KB -> 35 KB); their pdftotext output is unchanged.
qpdf --empty --pages "$R_ADMIN" 10,12 -- "$W/born.pdf"
gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=pdfwrite -dPDFSETTINGS=/prepress -o "$W/born-gs.pdf" "$W/born.pdf"
for p in 1 2; do
  cmp -s <(pdftotext -f $p -l $p "$W/born.pdf" -) <(pdftotext -f $p -l $p "$W/born-gs.pdf" -) \
    || { echo "gs changed the text layer of page $p" >&2; exit 1; }
done
qpdf --empty --deterministic-id --pages "$W/born-gs.pdf" 1 "$W/mixed-scan.pdf" 1 "$W/born-gs.pdf" 2 -- "$OUT/mixed.pdf"
gt "$R_ADMIN" 10 0 792 > "$OUT/mixed.p1.txt"
gt "$R_DATA" 9 0 266 > "$OUT/mixed.p2.txt"
gt "$R_ADMIN" 12 0 792 > "$OUT/mixed.p3.txt"

# 8. ocr-layer.pdf — R-intro p15 top, scanned at 300 DPI, turned into image + invisible
#    text (3 Tr) by `tesseract ... pdf` (the layer is tesseract's own, i.e. roughly right).
#    ocr-layer-bad.pdf — the same file with every invisible string ROT13'd (digits +5):
#    the layer is garbage, the image is the truth.
render "$R_INTRO" 15 300 245 "$W/o.pgm"
scan "$W/o.pgm" "$W/ocr.jpg" 300 8 0.4 30
tesseract "$W/ocr.jpg" "$W/ocr" -l eng --psm 1 pdf 2>/dev/null
qpdf --qdf --object-streams=disable "$W/ocr.pdf" "$W/ocr-qdf.pdf"
for mode in date rot13; do
  $H pdflayer "$W/ocr-qdf.pdf" "$W/ocr-$mode.qdf" "$mode"
  fix-qdf "$W/ocr-$mode.qdf" > "$W/ocr-$mode-fixed.pdf"
done
qpdf --deterministic-id --compress-streams=y --object-streams=generate "$W/ocr-date-fixed.pdf" "$OUT/ocr-layer.pdf"
qpdf --deterministic-id --compress-streams=y --object-streams=generate "$W/ocr-rot13-fixed.pdf" "$OUT/ocr-layer-bad.pdf"
gt "$R_INTRO" 15 0 245 > "$OUT/ocr-layer.p1.txt"
cp "$OUT/ocr-layer.p1.txt" "$OUT/ocr-layer-bad.p1.txt"
pdftotext "$OUT/ocr-layer.pdf" "$OUT/ocr-layer.layer.txt"
pdftotext "$OUT/ocr-layer-bad.pdf" "$OUT/ocr-layer-bad.layer.txt"

# 9. embedded.pdf — image-only pages whose image is not a JPEG on the page itself, made from
#    the fixtures above: p1 g4.tiff page 1 as a CCITT G4 image, p2 g4.tiff page 2 as a 1-bit
#    Flate image, p3 scanned.pdf's page wrapped in a form XObject (qpdf --overlay onto a blank
#    Letter page, as page-imposing tools wrap pages).
tiffcp "$OUT/g4.tiff,0" "$W/e1.tif"
img2pdf --nodate --engine internal -o "$W/e1.pdf" "$W/e1.tif"
"$CONVERT" "$OUT/g4.tiff[1]" -depth 1 -units PixelsPerInch -density 300 "$W/e2.png"
img2pdf --nodate --engine internal -o "$W/e2.pdf" "$W/e2.png"
gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=pdfwrite -r72 -g612x792 -o "$W/blank.pdf" -c showpage
qpdf --deterministic-id "$W/blank.pdf" --overlay "$OUT/scanned.pdf" -- "$W/e3.pdf"
qpdf --empty --deterministic-id --pages "$W/e1.pdf" 1 "$W/e2.pdf" 1 "$W/e3.pdf" 1 -- "$OUT/embedded.pdf"
cp "$OUT/g4.p1.txt" "$OUT/embedded.p1.txt"
cp "$OUT/g4.p2.txt" "$OUT/embedded.p2.txt"
cp "$OUT/scanned.p1.txt" "$OUT/embedded.p3.txt"

# manifest.json
python3 - "$OUT" <<'EOF'
import json, sys
pg = lambda route, rot, dpi, src: {"route": route, "rotation": rot, "dpi": dpi, "source": src}
m = {
  "scanned.pdf": ("application/pdf", [pg("ocr", 0, 300, "R-intro.pdf p9 top, skew +0.5")]),
  "rotated.pdf": ("application/pdf", [pg("ocr", 90, 200, "R-intro.pdf p10 top, rotated 90 clockwise, skew -0.4"),
                                      pg("ocr", 180, 200, "R-FAQ.pdf p14 top, rotated 180, skew +0.3")]),
  "two-column.pdf": ("application/pdf", [pg("ocr", 0, 300, "R-FAQ.pdf p7 section 2.1 re-typeset in two columns, skew -0.3")]),
  "g4.tiff": ("image/tiff", [pg("ocr", 0, 300, "R-data.pdf p7 top, skew +0.3"),
                             pg("ocr", 0, 300, "R-data.pdf p8 above the footnote, skew +0.4"),
                             pg("ocr", 0, 300, "R-admin.pdf p6 top, skew +0.5")]),
  "jpeg.tiff": ("image/tiff", [pg("ocr", 0, 200, "R-intro.pdf p12 top, skew +0.6"),
                               pg("ocr", 0, 200, "R-admin.pdf p9 top, skew -0.5")]),
  "animated.gif": ("image/gif", [pg("ocr", 0, 150, "R-intro.pdf p8, frame 1 (full canvas)"),
                                 pg("ocr", 0, 150, "R-intro.pdf p8, frame 2 (partial, composited)"),
                                 pg("ocr", 0, 150, "R-intro.pdf p8, frame 3 (partial, composited)")]),
  "mixed.pdf": ("application/pdf", [pg("text", 0, None, "R-admin.pdf p10 (born-digital)"),
                                    pg("ocr", 0, 300, "R-data.pdf p9 top, skew -0.6"),
                                    pg("text", 0, None, "R-admin.pdf p12 (born-digital)")]),
  "ocr-layer.pdf": ("application/pdf", [pg("ocr", 0, 300, "R-intro.pdf p15 top, skew +0.4; tesseract invisible text layer over a full-page image")]),
  "ocr-layer-bad.pdf": ("application/pdf", [pg("ocr", 0, 300, "same image as ocr-layer.pdf; invisible layer ROT13-garbled")]),
  "embedded.pdf": ("application/pdf", [pg("ocr", 0, 300, "g4.tiff page 1 as a CCITT G4 image"),
                                       pg("ocr", 0, 300, "g4.tiff page 2 as a 1-bit Flate image"),
                                       pg("ocr", 0, 300, "scanned.pdf's page inside a form XObject")]),
}
out = {}
for name, (mime, pages) in m.items():
    for i, p in enumerate(pages, 1):
        p["groundTruth"] = f"{name.rsplit('.', 1)[0]}.p{i}.txt"
        if p["dpi"] is None:
            del p["dpi"]
    out[name] = {"mimeType": mime, "pages": len(pages), "pageInfo": pages}
with open(sys.argv[1] + "/manifest.json", "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
EOF

[ -n "${CHECK:-}" ] && exec "$HERE/check.sh"
ls -l "$OUT"
