#!/usr/bin/env bash
# Writes THIRD_PARTY_NOTICES.md: the license of every Go module compiled into Folio's
# binaries (api, worker, folio), with the text of each, and the Debian packages the
# Docker image installs. Run it after changing dependencies (`make notices`);
# e2e.TestThirdPartyNotices fails when the modules the binaries hold and the file's list
# differ.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-THIRD_PARTY_NOTICES.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/" ./cmd/api ./cmd/worker ./cmd/folio
# "dep" lines, with a replacement ("=>") taking the module's place.
go version -m "$tmp/api" "$tmp/worker" "$tmp/folio" |
	awk '$1 == "dep" { m = $2 "@" $3 } $1 == "=>" { m = $2 "@" $3 } $1 == "dep" || $1 == "=>" { mods[m] = 1 }
	     END { for (m in mods) print m }' | sort >"$tmp/mods"
# A module replaced by another appears twice above; keep the replacement only.
go version -m "$tmp/api" "$tmp/worker" "$tmp/folio" | awk '$1 == "dep" { d = $2 "@" $3 } $1 == "=>" { print d }' |
	sort -u >"$tmp/replaced"
comm -23 "$tmp/mods" "$tmp/replaced" >"$tmp/kept"

# classify FILE: the SPDX identifier of a license text, by its wording.
classify() {
	local f=$1
	if grep -q "Apache License" "$f" && grep -q "Version 2.0" "$f"; then
		echo Apache-2.0
	elif grep -q "Mozilla Public License" "$f"; then
		echo MPL-2.0
	elif grep -q "Permission is hereby granted, free of charge" "$f"; then
		echo MIT
	elif grep -q "Permission to use, copy, modify, and/or distribute" "$f"; then
		echo ISC
	elif grep -q "This is free and unencumbered software" "$f"; then
		echo Unlicense
	elif grep -q "Redistribution and use in source and binary forms" "$f"; then
		if grep -qi "Neither the name" "$f"; then echo BSD-3-Clause; else echo BSD-2-Clause; fi
	else
		echo "see text"
	fi
}

{
	cat <<'EOF'
# Third-party notices

Folio is licensed under the Apache License 2.0 (`LICENSE`). Its binaries (`api`,
`worker`, `folio`) are built from the Go modules below, each under its own license,
whose text follows. This file is written by `scripts/notices.sh` from the modules the
binaries actually hold (`go version -m`).

The worker also runs PDFium compiled to WebAssembly, embedded in
`github.com/klippa-app/go-pdfium` (`internal/pdfium_wasm/pdfium.wasm`): PDFium is under
the BSD-3-Clause license (Copyright 2014 The PDFium Authors) and includes FreeType (the
FreeType License), libjpeg-turbo (the IJG license and BSD-3-Clause), OpenJPEG
(BSD-2-Clause), Little-CMS (MIT), libpng (the libpng license) and zlib (the zlib
license).

The Docker image (`Dockerfile`) installs, from Debian bookworm, with their copyright
files in the image under `/usr/share/doc/<package>/copyright`:

| package | license |
|---|---|
| `libtesseract5` (Tesseract OCR) | Apache-2.0 |
| `liblept5` (Leptonica) | BSD-2-Clause (Leptonica's license) |
| `libtiff6` (libtiff) | libtiff (Sam Leffler's and Silicon Graphics' BSD-style license) |
| `tesseract-ocr-eng`, `-osd`, `-deu`, `-fra`, `-spa`, `-ita`, `-por` (trained models) | Apache-2.0 |
| `ca-certificates` | MPL-2.0 |
| their dependencies (`libarchive13`, `libcurl4`, `libgif7`, `libjpeg62-turbo`, `libopenjp2-7`, `libpng16-16`, `libwebp7`, `zlib1g`, …) | each as its copyright file says |

## Go modules

| module | version | license |
|---|---|---|
EOF
	while IFS=@ read -r mod ver; do
		dir=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
		lic=
		for name in LICENSE LICENSE.txt LICENSE.md LICENCE COPYING License UNLICENSE; do
			[ -f "$dir/$name" ] && { lic=$dir/$name; break; }
		done
		echo "$mod@$ver" >>"$tmp/done"
		if [ -n "$lic" ]; then
			printf '| `%s` | %s | %s |\n' "$mod" "$ver" "$(classify "$lic")"
			printf '%s\t%s\t%s\n' "$mod" "$ver" "$lic" >>"$tmp/texts"
		else
			printf '| `%s` | %s | no license file in the module |\n' "$mod" "$ver"
		fi
	done <"$tmp/kept"
	echo
	echo "## License texts"
	while IFS=$'\t' read -r mod ver lic; do
		printf '\n### %s %s\n\n```\n' "$mod" "$ver"
		cat "$lic"
		printf '\n```\n'
	done <"$tmp/texts"
} >"$out"
echo "wrote $out: $(wc -l <"$tmp/kept") modules" >&2
