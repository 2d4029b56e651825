# syntax=docker/dockerfile:1
# One image for both processes; docker-compose.yml picks the command per service:
#   folio-api     the API: REST on LISTEN_ADDR (default :8080), gRPC on GRPC_LISTEN_ADDR (:8081)
#   folio-worker  the asynq worker (WORKER_CONCURRENCY, SHUTDOWN_TIMEOUT, CACHE_DIR, ...)
# Build: docker build -t folio .

FROM golang:1.26-bookworm AS build
WORKDIR /src
# The worker is cgo over Tesseract, Leptonica and libtiff (ocr/); the api is pure Go. go-pdfium runs in
# WebAssembly and needs no C library.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libtesseract-dev libleptonica-dev libtiff-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/folio-api ./cmd/api && \
    CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/folio-worker ./cmd/worker

FROM debian:bookworm-slim
# Tesseract's runtime and models: English, German, French, Spanish, Italian, Portuguese and
# the orientation/script model (osd). Add more with tesseract-ocr-<model> (chi-sim, jpn, ...);
# the api accepts language hints for the models installed here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libtesseract5 liblept5 libtiff6 \
       tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra tesseract-ocr-spa tesseract-ocr-ita \
       tesseract-ocr-por tesseract-ocr-osd \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 folio \
    && useradd --system --uid 10001 --gid folio --create-home --home-dir /home/folio --shell /usr/sbin/nologin folio \
    && install -d -o folio -g folio -m 0750 /var/cache/folio
COPY --from=build /out/folio-api /out/folio-worker /usr/local/bin/
# Folio's license, and the licenses of what the binaries are built from.
COPY LICENSE THIRD_PARTY_NOTICES.md /usr/share/doc/folio/
# The worker's caches live under /var/cache/folio (a volume in docker-compose.yml, created
# above so a new volume inherits folio's ownership): input files and the compiled pdfium
# module. One OCR thread per page: parallelism comes from pages (Debian's Tesseract uses
# OpenMP, 4-6x slower on 2 cores without this) and two malloc arenas (Tesseract's per-page
# allocations otherwise spread over many arenas: a third more RSS). The worker re-executes
# itself with either when unset.
ENV CACHE_DIR=/var/cache/folio/files \
    PDFIUM_CACHE_DIR=/var/cache/folio/wazero \
    TESSDATA_PREFIX=/usr/share/tesseract-ocr/5/tessdata \
    OMP_THREAD_LIMIT=1 \
    MALLOC_ARENA_MAX=2
USER folio:folio
WORKDIR /home/folio
# Compile pdfium now, so a new worker container starts in a fraction of a second instead of
# spending ~5 s and 300 MB compiling it (a fresh volume is populated from this directory).
# Both variants: wazero's cache key includes pdfium's interrupt setting, off in the
# isolated pdfium processes (PDFIUM_ISOLATE, the default) and on in the worker itself.
RUN folio-worker -warmup && folio-worker -warmup -pdfium-isolate=false
EXPOSE 8080 8081
CMD ["folio-api"]
