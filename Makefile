# Folio developer commands. `make` alone prints this list.
.DEFAULT_GOAL := help
.PHONY: help build test fuzz run bench lint tidy proto notices clean

GO ?= go
# Debian's Tesseract uses OpenMP: one thread per OCR call, parallelism comes from pages.
export OMP_THREAD_LIMIT ?= 1

help: ## Print this message
	@awk -F ':.*## ' '/^[a-z\/-]+:.*## / {printf "%-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/api, bin/worker and the pinned GCS emulator bin/fake-gcs-server
	$(GO) build -o bin/ ./cmd/api ./cmd/worker
	$(GO) build -o bin/fake-gcs-server github.com/fsouza/fake-gcs-server

test: ## Run all tests with -race (needs Redis on 127.0.0.1:6379; .ci/run starts one)
	$(GO) test -race -timeout 30m ./...

fuzz: ## Fuzz every Fuzz target for FUZZTIME (default 20s) each, FUZZ_PARALLEL workers (scripts/fuzz.sh)
	GO=$(GO) ./scripts/fuzz.sh

run: ## Run Folio without Docker: Redis, GCS emulator, api and one worker (scripts/run-local.sh)
	./scripts/run-local.sh

bench: ## Throughput table (go run ./bench), then the Go benchmarks
	$(GO) run ./bench
	$(GO) test -run '^$$' -bench . ./...

lint: ## go vet, and fail on files gofmt would change
	$(GO) vet ./...
	@out=$$(find . -name '*.go' -not -path './data/*' -not -path './.git/*' -print0 | xargs -0 -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy: ## go mod tidy
	$(GO) mod tidy

# protoc-gen-go at go.mod's google.golang.org/protobuf version, so the
# generated code matches the runtime it is built with.
PROTOC_GEN_GO_GRPC ?= v1.6.2
proto: ## Regenerate progresspb/ from proto/ (needs protoc: apt-get install protobuf-compiler)
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" $(GO) generate ./progresspb

notices: ## Rewrite THIRD_PARTY_NOTICES.md from the modules the binaries hold (after dependency changes)
	./scripts/notices.sh

clean: ## Remove bin/ (keeps ./data, the local run state)
	rm -rf bin
