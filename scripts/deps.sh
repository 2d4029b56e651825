#!/usr/bin/env bash
# The one list of Debian/Ubuntu packages Folio needs, and the one way to install them.
# `make run` (scripts/run-local.sh) calls `scripts/deps.sh run`; CI (.ci/run) calls
# `scripts/deps.sh test`.
#
# Usage: scripts/deps.sh [run|test] [--check]
#   run     what building and running Folio needs: Redis, and Tesseract, Leptonica and libtiff
#           (the worker reads TIFF pages through it) with pkg-config for the worker's cgo OCR
#           engine, with the models the Docker image ships (eng deu fra spa ita por, and osd
#           for orientation)
#   test    run's, plus what the tests use: pdftotext/pdfinfo (poppler-utils, the
#           text-layer reference), qpdf (building encrypted and broken PDFs), redis-sentinel
#           (config.TestRedisSentinel), r-doc-pdf and debian-reference-en (real-world
#           PDFs for the text-fidelity and end-to-end tests), ImageMagick and libtiff-tools (tiffcp, tiffset: the ocr tests make TIFFs
#           of every compression, layout and orientation with them), and Node.js with npm
#           (e2e.TestNodeClient runs Google's Node.js client) unless a node and an npm are
#           already on PATH (NodeSource's nodejs bundles npm and conflicts with Debian's npm)
#   --check only print the packages that are missing (exit 1 if any)
#
# Installs what is missing with apt-get, as root or through sudo; without either it prints
# the one command to run and exits 1.
set -euo pipefail

set_name=${1:-run}
check=false
[ "${2:-}" = --check ] && check=true

run_pkgs=(redis-server libtesseract-dev libleptonica-dev libtiff-dev pkg-config
	tesseract-ocr-eng tesseract-ocr-osd tesseract-ocr-deu tesseract-ocr-fra tesseract-ocr-spa
	tesseract-ocr-ita tesseract-ocr-por)
test_pkgs=(poppler-utils qpdf redis-sentinel r-doc-pdf debian-reference-en imagemagick libtiff-tools)

case $set_name in
run) pkgs=("${run_pkgs[@]}") ;;
test) pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
*)
	echo "usage: scripts/deps.sh [run|test] [--check]" >&2
	exit 2
	;;
esac

if ! command -v dpkg >/dev/null 2>&1; then
	echo "deps: not a Debian or Ubuntu system; install the equivalents of: ${pkgs[*]}" >&2
	exit 0
fi

need=()
for pkg in "${pkgs[@]}"; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "$set_name" = test ] && { ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; }; then
	need+=(nodejs npm)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if $check; then
	printf '%s\n' "${need[@]}"
	exit 1
fi

cmd="apt-get update && apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then
	sudo=
elif command -v sudo >/dev/null 2>&1 && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then
	sudo=sudo # asks for a password on a terminal
else
	echo "deps: missing packages: ${need[*]}" >&2
	echo "deps: install them with:  sudo sh -c '$cmd'" >&2
	exit 1
fi
echo "deps: apt-get install ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
