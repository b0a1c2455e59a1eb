# nfcd build targets. `make run` and `make test` are the README quick start.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 10s
BIN       := bin/nfcd
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
DATE      ?= $(shell git log -1 --format=%cI 2>/dev/null)
BUILDINFO := github.com/nfcd/nfcd/internal/buildinfo
LDFLAGS   := -s -w -X $(BUILDINFO).Version=$(VERSION) \
             -X $(BUILDINFO).Commit=$(COMMIT) -X $(BUILDINFO).Date=$(DATE)
DIST      ?= dist
SAMPLE_URL := https://sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086

.PHONY: deps test-deps build run verify-sample test race bench bench-tap fuzz lint staticcheck check dist clean

# Debian packages: cgo's PC/SC headers for build; pcscd, vpcd and chromium
# for the end-to-end and browser tests (scripts/deps.sh; no-op when present).
deps:
	@bash scripts/deps.sh build

test-deps:
	@bash scripts/deps.sh test

build: deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/nfcd

# The main job on an embedded default: the daemon with a simulated reader
# and virtual tags. No hardware, network or root needed: without the PC/SC
# build packages (and no way to install them) the demo is built without
# cgo, which has everything but readers. State goes to the user's state
# directory (~/.local/state/nfcd); open the printed URL.
run:
	@cgo=$${CGO_ENABLED:-$$(bash scripts/deps.sh run)}; \
	CGO_ENABLED=$$cgo $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/nfcd && \
	exec ./$(BIN) run --simulate

# The offline check of the first quick start: NXP AN12196's sample SUN URL
# (factory zero keys).
verify-sample: build
	./$(BIN) verify --mode enc '$(SAMPLE_URL)'

# Test artifacts (the kiosk screenshot of the browser test) land in
# $(ARTIFACTS)/_artifacts/.
ARTIFACTS ?= $(CURDIR)/test-output
test: test-deps
	@mkdir -p $(ARTIFACTS)
	$(GO) test -count=1 -timeout 15m -artifacts -outputdir $(ARTIFACTS) $(PKGS)

race:
	$(GO) test -count=1 -race -timeout 20m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $(PKGS)

# The tap benchmark on the real pcscd with the vpcd virtual tag (not part of
# `make test`): detect→event for `nfcd watch --json` and `nfcd run` with a
# WebSocket client, the time split, and idle wake-ups of nfcd and pcscd
# (tools/benchtap). BENCHTAP_FLAGS e.g. -json, -rounds 2 -taps 50, -v.
BENCHTAP_FLAGS ?=
bench-tap: build test-deps
	$(GO) run ./tools/benchtap -nfcd $(BIN) $(BENCHTAP_FLAGS)

# Runs every Fuzz* target for FUZZTIME each (go test allows one target per run).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	GOOS=windows CGO_ENABLED=0 $(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/nfcd

# staticcheck comes from the Go module proxy, pinned.
staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

check: lint staticcheck race

# Release artifacts in $(DIST): the Linux amd64 binary (cgo: libpcsclite),
# the Windows amd64 .exe (no cgo: PC/SC through winscard.dll) and the .deb
# (internal/dist, nfpm), with their SHA-256 sums.
dist: deps
	@mkdir -p $(DIST)
	rm -f $(DIST)/nfcd_*.deb $(DIST)/SHA256SUMS
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/nfcd-linux-amd64 ./cmd/nfcd
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/nfcd-windows-amd64.exe ./cmd/nfcd
	$(GO) run ./tools/mkdeb -binary $(DIST)/nfcd-linux-amd64 -version '$(VERSION)' -date '$(DATE)' -out $(DIST)
	cd $(DIST) && sha256sum nfcd-linux-amd64 nfcd-windows-amd64.exe nfcd_*.deb > SHA256SUMS
	@ls -l $(DIST)

clean:
	rm -rf bin test-output dist
