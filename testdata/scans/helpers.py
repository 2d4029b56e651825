#!/usr/bin/env python3
"""Helpers for make.sh (Python 3 stdlib only). Subcommands:

  gt PDF PAGE Y0 Y1 [X0 X1]   print the text of the lines of PAGE whose box lies inside
                              y in [Y0,Y1] and x in [X0,X1] (PDF points, origin top-left),
                              one output line per text line, blank line between blocks.
                              Uses `pdftotext -bbox-layout`, so words hyphenated at a line end
                              stay as printed ("pack-" / "ages"); plain pdftotext would join them.
                              Word pieces that touch are glued ("CRAN" "." -> "CRAN."), and pieces
                              of one justified line that pdftotext split are joined again.
  paras PDF PAGE Y0 Y1        the same lines re-flowed into paragraphs (one per output line,
                              end-of-line hyphens removed), to feed troff.
  gifinfo GIF                 print the logical screen and each frame's geometry and disposal.
  pdflayer IN OUT MODE        rewrite a `qpdf --qdf` file: fix /CreationDate, drop /ID (MODE "date"), or
                              also ROT13 every string shown with 3 Tr (MODE "rot13"), i.e.
                              garble the invisible text layer that tesseract writes.
"""
import html
import re
import subprocess
import sys

LIG = str.maketrans({"\ufb01": "fi", "\ufb02": "fl", "\ufb00": "ff", "\ufb03": "ffi", "\ufb04": "ffl"})


def bbox_lines(pdf, page):
    x = subprocess.run(["pdftotext", "-f", page, "-l", page, "-bbox-layout", pdf, "-"],
                       check=True, capture_output=True, text=True).stdout
    blocks = []
    for b in re.finditer(r"<block [^>]*>(.*?)</block>", x, re.S):
        lines = []
        for m in re.finditer(r'<line xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</line>',
                             b.group(1), re.S):
            text, prev = "", None
            for w in re.finditer(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>',
                                 m.group(5)):
                # pdftotext splits a word where the font changes (texinfo's small-caps
                # acronyms: "CRAN" + "."); glue pieces that touch (gap < 0.8 pt).
                if prev is not None and float(w.group(1)) - prev >= 0.8:
                    text += " "
                text += html.unescape(w.group(3))
                prev = float(w.group(2))
            line = [float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)), text.translate(LIG)]
            if lines and abs(lines[-1][1] - line[1]) < 1.5:
                # same baseline: pdftotext cut a widely justified line into pieces
                lines[-1][2], lines[-1][3] = max(lines[-1][2], line[2]), max(lines[-1][3], line[3])
                lines[-1][4] += " " + line[4]
            else:
                lines.append(line)
        blocks.append(lines)
    return blocks


def select(pdf, page, y0, y1, x0=0.0, x1=1e9):
    out = []
    for lines in bbox_lines(pdf, page):
        sel = [l[4] for l in lines if l[1] >= y0 and l[3] <= y1 and l[0] >= x0 and l[2] <= x1]
        if sel:
            out.append(sel)
    return out


def cmd_gt(a):
    blocks = select(a[0], a[1], *map(float, a[2:]))
    sys.stdout.write("\n\n".join("\n".join(b) for b in blocks) + "\n")


def cmd_paras(a):
    for b in select(a[0], a[1], *map(float, a[2:])):
        text = ""
        for line in b:
            if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[:1].islower():
                text = text[:-1] + line
            else:
                text = (text + " " + line).strip()
        print(text)


def cmd_gifinfo(a):
    d = open(a[0], "rb").read()
    assert d[:6] in (b"GIF87a", b"GIF89a")
    w, h, flags = d[6] | d[7] << 8, d[8] | d[9] << 8, d[10]
    print(f"screen {w}x{h}")
    i = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    disposal, n = 0, 0
    while i < len(d):
        c = d[i]
        if c == 0x3B:
            break
        if c == 0x21:  # extension
            label = d[i + 1]
            j = i + 2
            if label == 0xF9:
                disposal = (d[j + 1] >> 2) & 7
            while d[j]:
                j += d[j] + 1
            i = j + 1
        elif c == 0x2C:  # image descriptor
            x, y = d[i + 1] | d[i + 2] << 8, d[i + 3] | d[i + 4] << 8
            fw, fh, f = d[i + 5] | d[i + 6] << 8, d[i + 7] | d[i + 8] << 8, d[i + 9]
            n += 1
            print(f"frame {n} {fw}x{fh}+{x}+{y} disposal={disposal} local_palette={bool(f & 0x80)}")
            j = i + 10 + (3 << ((f & 7) + 1) if f & 0x80 else 0) + 1
            while d[j]:
                j += d[j] + 1
            i = j + 1
        else:
            raise SystemExit(f"bad GIF block 0x{c:02x} at {i}")


def rot13_hex(m):
    h = m.group(1)
    out = []
    for k in range(0, len(h), 4):
        c = chr(int(h[k:k + 4], 16))
        if "a" <= c <= "z":
            c = chr((ord(c) - 97 + 13) % 26 + 97)
        elif "A" <= c <= "Z":
            c = chr((ord(c) - 65 + 13) % 26 + 65)
        elif "0" <= c <= "9":
            c = chr((ord(c) - 48 + 5) % 10 + 48)
        out.append(f"{ord(c):04x}")
    return "[ <" + "".join(out) + "> ] TJ"


def cmd_pdflayer(a):
    data = open(a[0], "rb").read().decode("latin-1")
    data = re.sub(r"/CreationDate \(D:[^)]*\)", "/CreationDate (D:20000101000000Z00'00')", data)
    data = re.sub(r"/ModDate \(D:[^)]*\)", "/ModDate (D:20000101000000Z00'00')", data)
    data = re.sub(r"\n\s*/ID \[<[0-9a-fA-F]*> *<[0-9a-fA-F]*>\]", "", data)  # qpdf --deterministic-id makes a new one
    if a[2] == "rot13":
        assert "3 Tr" in data, "no invisible text (3 Tr) found"
        data, n = re.subn(r"\[ <([0-9a-fA-F]+)> \] TJ", rot13_hex, data)
        assert n > 0, "no TJ strings found"
    open(a[1], "wb").write(data.encode("latin-1"))


if __name__ == "__main__":
    {"gt": cmd_gt, "paras": cmd_paras, "gifinfo": cmd_gifinfo, "pdflayer": cmd_pdflayer}[sys.argv[1]](sys.argv[2:])
