#!/usr/bin/env bash
# Fetches the born-digital PDFs of README's "Text fidelity" table that are
# not R manuals into data/cer-corpus/ (git-ignored): each comes from a
# Debian package, downloaded with apt-get download (no root, nothing
# installed) and unpacked with dpkg-deb. Then prints the probe command
# that measures Folio's text against pdftotext on them and on the R
# manuals (r-doc-pdf).
#
#   scripts/cer-corpus.sh
#   FOLIO_CER_PROBE=1 FOLIO_CER_FILES="R-intro data/cer-corpus/caption.pdf" \
#     go test -count=1 -run TestCERProbe -v ./pipeline/
#
# Needs apt-get (with package lists: apt-get update as root if they are
# missing) and dpkg-deb. Files already there are kept.
set -euo pipefail

cd "$(dirname "$0")/.."
dest=data/cer-corpus
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# package, path inside it, name in $dest
files=(
	"texlive-latex-recommended-doc|usr/share/doc/texlive-doc/latex/caption/caption.pdf|caption.pdf"
	"texlive-latex-recommended-doc|usr/share/doc/texlive-doc/latex/beamer/beamerexample-conference-talk.pdf|beamerexample-conference-talk.pdf"
	"fonts-sil-abyssinica|usr/share/doc/fonts-sil-abyssinica/documentation/AbyssinicaSILFontFeatures.pdf.gz|AbyssinicaSILFontFeatures.pdf"
	"fonts-sil-shimenkan|usr/share/doc/fonts-sil-shimenkan/documentation/UsingTheFonts.pdf.gz|ShimenkanUsingTheFonts.pdf"
	"fonts-sil-padauk|usr/share/doc/fonts-sil-padauk/documentation/Padauk-features.pdf.gz|Padauk-features.pdf"
	# LaTeX papers: R package vignettes (JSS articles, an R News column),
	# rebuilt by Debian through Ghostscript.
	"r-cran-zoo|usr/lib/R/site-library/zoo/doc/zoo.pdf|zoo.pdf"
	"r-cran-sandwich|usr/lib/R/site-library/sandwich/doc/sandwich.pdf|sandwich.pdf"
	"r-cran-lme4|usr/lib/R/site-library/lme4/doc/lmer.pdf|lmer.pdf"
	"r-cran-mvtnorm|usr/lib/R/site-library/mvtnorm/doc/MVT_Rnews.pdf|MVT_Rnews.pdf"
	# A book: the Debian Reference (DBLaTeX, XeTeX), with many tables.
	"debian-reference-en|usr/share/debian-reference/debian-reference.en.pdf|debian-reference.en.pdf"
)

for entry in "${files[@]}"; do
	IFS='|' read -r pkg path name <<<"$entry"
	[ -s "$dest/$name" ] && continue
	if [ ! -d "$work/$pkg" ]; then
		(cd "$work" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
			echo "cer-corpus: apt-get download $pkg failed (apt-get update first?)" >&2
			exit 1
		}
		dpkg-deb -x "$work/$pkg"_*.deb "$work/$pkg"
	fi
	src="$work/$pkg/$path"
	if [ ! -e "$src" ]; then
		# Package layouts move between Debian releases: look for the file by name.
		src=$(find "$work/$pkg" -name "$(basename "$path")" | head -1)
	fi
	[ -n "$src" ] && [ -e "$src" ] || { echo "cer-corpus: $path not in $pkg" >&2; exit 1; }
	case $src in
	*.gz) gunzip -c "$src" >"$dest/$name" ;;
	*) cp "$src" "$dest/$name" ;;
	esac
	echo "$dest/$name ($pkg)"
done

list="R-intro R-data R-admin R-lang R-ints R-FAQ R-exts"
for entry in "${files[@]}"; do
	list="$list $dest/${entry##*|}"
done

# LibreOffice documents: four chapters of the Debian Reference's HTML
# printed to PDF by LibreOffice Writer, when soffice is on PATH
# (apt-get install libreoffice-writer-nogui); README's figures are from
# LibreOffice 7.4.
if command -v soffice >/dev/null; then
	for ch in ch01 ch02 ch04 ch09; do
		name="debian-reference-$ch-libreoffice.pdf"
		list="$list $dest/$name"
		[ -s "$dest/$name" ] && continue
		pkg=debian-reference-en
		if [ ! -d "$work/$pkg" ]; then
			(cd "$work" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
				echo "cer-corpus: apt-get download $pkg failed (apt-get update first?)" >&2
				exit 1
			}
			dpkg-deb -x "$work/$pkg"_*.deb "$work/$pkg"
		fi
		soffice --headless -env:UserInstallation="file://$work/lo-profile" \
			--convert-to pdf:writer_web_pdf_Export --outdir "$work/lo" \
			"$work/$pkg/usr/share/debian-reference/$ch.en.html" >/dev/null 2>&1
		mv "$work/lo/$ch.en.pdf" "$dest/$name"
		echo "$dest/$name (LibreOffice from $pkg)"
	done
else
	echo "cer-corpus: no soffice on PATH: the LibreOffice rows are left out" >&2
fi
echo
echo "FOLIO_CER_PROBE=1 FOLIO_CER_FILES=\"$list\" go test -count=1 -run TestCERProbe -v ./pipeline/"
