#!/usr/bin/env bash
# OCRs every page of every fixture with the tesseract CLI and prints the character error
# rate against the ground truth (cer.py: whitespace collapsed, typographic quotes/dashes
# folded). --psm 1 (with orientation detection) for rotated.pdf, --psm 3 otherwise.
# Born-digital pages (route "text") are rendered at 300 DPI for the OCR column, and their
# text layer (plain `pdftotext`) is scored too.
set -euo pipefail
export LC_ALL=C.UTF-8 OMP_THREAD_LIMIT=1
HERE=$(cd "$(dirname "$0")" && pwd)
CONVERT=${CONVERT:-$( [ -x /usr/bin/convert ] && echo /usr/bin/convert || command -v convert )}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
cd "$HERE"
cer() { python3 cer.py "$1" "$2" | awk '{printf "%6.2f%% (%d/%d)", $1*100, $2, $3}'; }
ocr() { tesseract "$1" "$W/o" -l eng --psm "$2" 2>/dev/null; }
printf '%-22s %-4s %-6s %s\n' fixture page route "CER (edits/chars)"
for f in scanned.pdf rotated.pdf two-column.pdf mixed.pdf ocr-layer.pdf ocr-layer-bad.pdf embedded.pdf; do
  n=$(pdfinfo "$f" | awk '/^Pages:/{print $2}')
  for p in $(seq "$n"); do
    gt="${f%.*}.p$p.txt"; psm=3; [ "$f" = rotated.pdf ] && psm=1
    if [ -n "$(pdfimages -list -f "$p" -l "$p" "$f" | sed 1,2d)" ] && [ "$(pdftotext -f "$p" -l "$p" "$f" - | tr -d '[:space:]')" = "" ] || [[ $f == ocr-layer* ]]; then
      pdfimages -all -f "$p" -l "$p" "$f" "$W/img"; img=$(ls "$W"/img-* | head -1)
      ocr "$img" $psm; printf '%-22s %-4s %-6s %s\n' "$f" "$p" ocr "$(cer "$gt" "$W/o.txt")"; rm -f "$W"/img-*
      if [[ $f == ocr-layer* ]]; then
        pdftotext -f "$p" -l "$p" "$f" "$W/l.txt"; printf '%-22s %-4s %-6s %s\n' "$f" "$p" layer "$(cer "$gt" "$W/l.txt")"
      fi
    else
      pdftotext -f "$p" -l "$p" "$f" "$W/l.txt"; printf '%-22s %-4s %-6s %s\n' "$f" "$p" text "$(cer "$gt" "$W/l.txt")"
      pdftoppm -r 300 -gray -f "$p" -l "$p" -singlefile "$f" "$W/r"; ocr "$W/r.pgm" 3
      printf '%-22s %-4s %-6s %s\n' "$f" "$p" "(ocr)" "$(cer "$gt" "$W/o.txt")"
    fi
  done
done
for f in g4.tiff jpeg.tiff; do
  n=$(tiffinfo "$f" 2>/dev/null | grep -c '^TIFF Directory')
  for p in $(seq "$n"); do
    "$CONVERT" "$f[$((p-1))]" "$W/t.png"; ocr "$W/t.png" 3
    printf '%-22s %-4s %-6s %s\n' "$f" "$p" ocr "$(cer "${f%.*}.p$p.txt" "$W/o.txt")"
  done
done
"$CONVERT" animated.gif -coalesce "$W/gif-%d.png"
for p in 1 2 3; do
  ocr "$W/gif-$((p-1)).png" 3
  printf '%-22s %-4s %-6s %s\n' animated.gif "$p" ocr "$(cer "animated.p$p.txt" "$W/o.txt")"
done
