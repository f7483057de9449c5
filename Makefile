# idsync — two commands: `make run` and `make test`.
GO       ?= go
BIN      := bin/idsync
PKGS     := ./...
# apt packages the test suite needs (real OpenLDAP, headless Chromium, an SMTP server,
# PostgreSQL's initdb for the private servers of the fault drills).
TEST_DEBS := slapd ldap-utils chromium python3-aiosmtpd postgresql samba samba-ad-dc samba-ad-provision winbind krb5-user samba-dsdb-modules python3-samba ldb-tools smbclient
# npm packages of the third-party SCIM test server (internal/products/scimmytest).
SCIMMY_DIR ?= $(HOME)/.cache/idsync/scimmy

.PHONY: run build test test-deps test-faults check generate bench clean fuzz fuzz-short

run: build
	@mkdir -p var
	./$(BIN) serve --demo

build: generate
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/idsync

generate:
	$(GO) tool templ generate -path . >/dev/null

# test-deps installs what the suite talks to when it is missing (as root),
# and starts the local PostgreSQL if it is down.
test-deps:
	@missing=""; \
	command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || missing="$$missing slapd"; \
	command -v ldapsearch >/dev/null 2>&1 || missing="$$missing ldap-utils"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing="$$missing python3-aiosmtpd"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/sbin/samba ] && [ -x /usr/bin/samba-tool ] || missing="$$missing samba samba-ad-dc samba-ad-provision winbind krb5-user samba-dsdb-modules python3-samba smbclient"; \
	[ -x /usr/bin/ldbadd ] || missing="$$missing ldb-tools"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run as root to install)"; exit 1; fi; \
	fi
	@if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  echo "starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
	fi
	@if command -v npm >/dev/null 2>&1 && ! cmp -s internal/products/scimmytest/package-lock.json $(SCIMMY_DIR)/package-lock.json; then \
	  echo "installing scimmy into $(SCIMMY_DIR)"; mkdir -p $(SCIMMY_DIR) && \
	  cp internal/products/scimmytest/package.json internal/products/scimmytest/package-lock.json $(SCIMMY_DIR)/ && \
	  (cd $(SCIMMY_DIR) && npm ci --no-audit --no-fund --loglevel=error >/dev/null); \
	fi

# check: formatting, vet and generated templates must be clean.
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@$(GO) tool templ generate -path . >/dev/null; \
	  if [ -n "$$(git status --porcelain -- '*_templ.go' 2>/dev/null)" ]; then \
	    echo "templ generate changed files: commit the generated code"; git status --porcelain -- '*_templ.go'; exit 1; fi

test: test-deps check lint
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	@$(MAKE) --no-print-directory fuzz-short

# golangci-lint (config: .golangci.yml), pinned; installed from the Go
# module proxy into $(GOPATH)/bin on first use.
GOLANGCI_VERSION := v2.15.0
GOLANGCI := $(shell $(GO) env GOPATH)/bin/golangci-lint
lint:
	@[ -x $(GOLANGCI) ] && $(GOLANGCI) version 2>/dev/null | grep -q "$(patsubst v%,%,$(GOLANGCI_VERSION))" || \
	  { echo "installing golangci-lint $(GOLANGCI_VERSION)"; $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION); }
	$(GOLANGCI) run --timeout 20m ./...

# Fuzz tests (func FuzzX in *_test.go; seed corpora under testdata/fuzz run
# with every `go test`). `make test` explores each for FUZZTIME more;
# `make fuzz` for longer. A crasher is written to testdata/fuzz/FuzzX/:
# commit it as a regression test with the fix.
FUZZTIME ?= 2s
fuzz-short:
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	  pkg=$$(dirname $$f); \
	  for fn in $$(grep -oE '^func Fuzz[A-Za-z0-9_]+' $$f | cut -c6-); do \
	    echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg >/tmp/idsync-fuzz.log 2>&1 || { cat /tmp/idsync-fuzz.log; exit 1; }; \
	  done; \
	done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=60s

# test-faults runs only the fault drills (docs/faults.md); `make test` runs
# them too, as package internal/faultdrill.
test-faults: test-deps
	$(GO) test -count=1 -timeout 15m -v ./internal/faultdrill/

bench: test-deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 60m ./...

clean:
	rm -rf bin
