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
# The shipped binaries are static (CGO_ENABLED=0): the packages declare no
# libc, so a binary linked against the build host's glibc could refuse to
# start on an older distribution, and a static one starts about 4 ms
# sooner (no dynamic loader), which a one-shot `skupperd reconcile` pays
# every time. Name resolution and user lookups use Go's own code.
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...
	$(GO) build -o $(BIN)/skrouterd-standin ./test/standin/skrouterd

## run: the main job — run the hello-world network for real: two linked sites, traffic across the link, status, clean stop (scripts/demo.sh; KEEP=1 keeps it running)
run:
	./scripts/demo.sh

## test: the whole suite — lint, race-enabled tests, and the decoder fuzz run
test: lint
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz

## test-short: tests only, no lint or fuzz
test-short:
	$(GO) test -count=1 ./...

## fuzz: run the resource decoder's fuzz target for FUZZTIME and, for ROUTER_FUZZTIME each, those that parse router messages or hold a hand-written parser, encoder or check equal to what it replaces (scripts/fuzz.sh: a run failed only by Go's fuzztime deadline race is tried once more)
ROUTER_FUZZTIME ?= 10s
fuzz:
	GO=$(GO) ./scripts/fuzz.sh FuzzDecodeValidate ./api/v2alpha1/ $(FUZZTIME)
	GO=$(GO) ./scripts/fuzz.sh FuzzDecodeReply ./router/mgmt/ $(ROUTER_FUZZTIME)
	GO=$(GO) ./scripts/fuzz.sh FuzzEncodeValue ./router/mgmt/ $(ROUTER_FUZZTIME)
	GO=$(GO) ./scripts/fuzz.sh FuzzDecodeRecords ./router/vanflow/ $(ROUTER_FUZZTIME)
	GO=$(GO) ./scripts/fuzz.sh FuzzFastParse ./api/v2alpha1/ $(ROUTER_FUZZTIME)
	GO=$(GO) ./scripts/fuzz.sh FuzzMarshalYAML ./api/v2alpha1/ $(ROUTER_FUZZTIME)
	GO=$(GO) ./scripts/fuzz.sh FuzzLabels ./api/v2alpha1/ $(ROUTER_FUZZTIME)
	GO=$(GO) ./scripts/fuzz.sh FuzzMarshalEntity ./render/ $(ROUTER_FUZZTIME)
	GO=$(GO) ./scripts/fuzz.sh FuzzMarshalFields ./render/ $(ROUTER_FUZZTIME)

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

# ---- Installing and packaging (systemd units, completions, docs; nfpm) ----

PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share
DOCDIR      ?= $(DATADIR)/doc/skupperd
SYSTEMD_SYSTEM_UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSTEMD_USER_UNITDIR   ?= $(PREFIX)/lib/systemd/user
DIST        ?= dist
STAGE       := $(abspath $(DIST))/stage
NFPM_VERSION ?= v2.45.0
NFPM        ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
PKG_ARCH    ?= $(shell $(GO) env GOARCH)
# A package version needs a leading number: v1.2.3-4-gabc -> 1.2.3.4.gabc;
# an untagged tree gets 0.0.0~git.<describe>.
PKG_VERSION ?= $(shell v=$$(printf '%s' '$(VERSION)' | sed -e 's/^v//' -e 's/[^A-Za-z0-9.+~]/./g'); \
	if printf '%s' "$$v" | grep -Eq '^[0-9]+\.[0-9]'; then echo "$$v"; else echo "0.0.0~git.$$v"; fi)

.PHONY: install uninstall deb rpm packages package-stage

## install: build, then install skupper, skupperd, the systemd units, shell completions, docs and examples under $(DESTDIR)$(PREFIX) (default /usr/local)
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSTEMD_SYSTEM_UNITDIR) $(DESTDIR)$(SYSTEMD_USER_UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN)/skupperd $(DESTDIR)$(BINDIR)/skupperd
	@if [ -x $(BIN)/skupper ]; then echo "install -m 0755 $(BIN)/skupper $(DESTDIR)$(BINDIR)/skupper"; \
		install -m 0755 $(BIN)/skupper $(DESTDIR)$(BINDIR)/skupper; fi
	for mode in system user; do \
		dir=$(DESTDIR)$(SYSTEMD_SYSTEM_UNITDIR); [ $$mode = user ] && dir=$(DESTDIR)$(SYSTEMD_USER_UNITDIR); \
		sed -e 's|/usr/bin/skupperd|$(BINDIR)/skupperd|g' -e 's|/usr/share/doc/skupperd|$(DOCDIR)|g' \
			packaging/systemd/$$mode/skupperd.service > $$dir/.skupperd.service.tmp && \
		chmod 0644 $$dir/.skupperd.service.tmp && mv -f $$dir/.skupperd.service.tmp $$dir/skupperd.service || exit 1; \
	done
	@# Shell completions come from the skupper binary, when there is one.
	@if [ -x $(BIN)/skupper ]; then \
		echo "generating shell completions with $(BIN)/skupper"; \
		install -d $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/site-functions $(DESTDIR)$(DATADIR)/fish/vendor_completions.d && \
		$(BIN)/skupper completion bash > $(DESTDIR)$(DATADIR)/bash-completion/completions/skupper && \
		$(BIN)/skupper completion zsh > $(DESTDIR)$(DATADIR)/zsh/site-functions/_skupper && \
		$(BIN)/skupper completion fish > $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/skupper.fish && \
		chmod 0644 $(DESTDIR)$(DATADIR)/bash-completion/completions/skupper $(DESTDIR)$(DATADIR)/zsh/site-functions/_skupper $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/skupper.fish; \
	else echo "$(BIN)/skupper not built: no shell completions"; fi
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	rm -rf $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR)/examples
	cp -R docs examples $(DESTDIR)$(DOCDIR)/
	chmod -R u=rwX,go=rX $(DESTDIR)$(DOCDIR)

## uninstall: remove what `make install` installed (same PREFIX/DESTDIR); data homes are never touched
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/skupperd $(DESTDIR)$(BINDIR)/skupper
	rm -f $(DESTDIR)$(SYSTEMD_SYSTEM_UNITDIR)/skupperd.service $(DESTDIR)$(SYSTEMD_USER_UNITDIR)/skupperd.service
	rm -f $(DESTDIR)$(DATADIR)/bash-completion/completions/skupper $(DESTDIR)$(DATADIR)/zsh/site-functions/_skupper $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/skupper.fish
	rm -rf $(DESTDIR)$(DOCDIR)

# package-stage: `make install` into $(DIST)/stage with PREFIX=/usr, the tree nfpm packages
package-stage:
	rm -rf $(STAGE)
	$(MAKE) install DESTDIR=$(STAGE) PREFIX=/usr

## deb: build the .deb into $(DIST)/ (nfpm $(NFPM_VERSION) through the Go toolchain)
deb: package-stage
	STAGE=$(STAGE) PKG_VERSION=$(PKG_VERSION) PKG_ARCH=$(PKG_ARCH) $(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(DIST)/

## rpm: build the .rpm into $(DIST)/
rpm: package-stage
	STAGE=$(STAGE) PKG_VERSION=$(PKG_VERSION) PKG_ARCH=$(PKG_ARCH) $(NFPM) package --config packaging/nfpm.yaml --packager rpm --target $(DIST)/

## packages: both
packages: deb rpm
