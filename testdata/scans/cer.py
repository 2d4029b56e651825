#!/usr/bin/env python3
"""Character error rate (CER) of OCR output against ground truth.

Usage: cer.py GROUND_TRUTH.txt OCR.txt [--raw]

CER = Levenshtein(gt, ocr) / len(gt), computed on normalised text:
  * runs of whitespace (spaces, newlines, tabs, form feeds) become one space, ends trimmed;
  * unless --raw: typographic quotes and dashes fold to ASCII (‘’‚′ -> ', “”„″ -> ",
    – — − -> -), and the ligatures ﬁ ﬂ ﬀ ﬃ ﬄ expand, because Tesseract's choice between
    them is not an error a reader would notice.
Prints: CER (as a fraction), edit distance, ground-truth length. Python 3 stdlib only.
"""
import re
import sys

FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\ufb01": "fi", "\ufb02": "fl", "\ufb00": "ff", "\ufb03": "ffi", "\ufb04": "ffl",
})


def norm(s, raw=False):
    if not raw:
        s = s.translate(FOLD)
    return re.sub(r"\s+", " ", s).strip()


def levenshtein(a, b):
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(gt, ocr, raw=False):
    g, o = norm(gt, raw), norm(ocr, raw)
    d = levenshtein(g, o)
    return d / max(len(g), 1), d, len(g)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--raw"]
    if len(args) != 2:
        sys.exit(__doc__)
    with open(args[0], encoding="utf-8") as f:
        gt = f.read()
    with open(args[1], encoding="utf-8") as f:
        ocr = f.read()
    r, d, n = cer(gt, ocr, raw="--raw" in sys.argv)
    print(f"{r:.4f} {d} {n}")
