#!/usr/bin/env bash
# Reproduces README's "Where born-digital time goes": builds a 1,027-page
# born-digital book from Debian's R manuals (r-doc-pdf; qpdf
# --deterministic-id, cached in data/bench-corpus/), then profiles one
# worker (DEBUG_PPROF=true on its METRICS_ADDR) while it annotates the
# whole book, once with defaults (pdfium in child processes, whose CPU is
# read from /proc), once with PDFIUM_ISOLATE=false and once with
# PDFIUM_ISOLATE=false UNIT_PAGES=0 PDFIUM_INTERRUPT=false, and prints the
# breakdown in ms per page as markdown. README's table came from
# -profile-config defaults -profile-config PDFIUM_ISOLATE=false. The raw profiles stay in data/profile-born/ for
# `go tool pprof` (the worker binary is not needed: they are symbolized).
#
#   scripts/profile-born.sh                      # about 3 minutes on 2 cores
#   scripts/profile-born.sh -profile-config defaults -profile-split-pages 200
#
# Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/12; the bench uses
# a key prefix and queue of its own and removes them), qpdf and r-doc-pdf.
# Run it on an idle machine: api, Redis, the GCS emulator and the worker
# share the cores. Further arguments go to `go run ./bench`.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
exec "$GO" run ./bench -profile -profile-dir data/profile-born "$@"
