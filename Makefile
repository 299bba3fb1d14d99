# skupperd build and test entry points. Every target works on a fresh Debian
# machine with Go installed; tools are fetched through the Go module proxy.

GO          ?= go
BIN         ?= bin
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME    ?= 30s
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X github.com/skupperd/skupperd/internal/version.Version=$(VERSION)

.PHONY: all build run test test-short lint fmt vet staticcheck fuzz bench clean tools

all: build

## build: compile skupperd (and the test stand-in router) into ./bin
build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...
	$(GO) build -o $(BIN)/skrouterd-standin ./internal/standin/skrouterd

## run: the main job — build and check the hello-world example (scripts/demo.sh)
run:
	./scripts/demo.sh

## test: the whole suite — lint, race-enabled tests, and the decoder fuzz run
test: lint
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz

## test-short: tests only, no lint or fuzz
test-short:
	$(GO) test -count=1 ./...

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeValidate$$' -fuzztime $(FUZZTIME) ./api/v2alpha1/

## lint: gofmt, go vet and staticcheck must all be clean
lint: fmt vet staticcheck

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: tools
	$(STATICCHECK) ./...

tools:
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## bench: every benchmark, 5 runs each (compare runs with benchstat)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...

clean:
	rm -rf $(BIN) dist
