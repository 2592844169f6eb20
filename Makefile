# aoe: ATA over Ethernet tools. See README.md.
PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

# The aoetools names the binary answers to (symlinks to aoe).
CLASSIC := aoe-stat aoe-discover aoe-interfaces aoe-revalidate aoe-flush aoe-version aoecfg aoeping aoe-sancheck

.PHONY: all build links install uninstall test e2e bench bench-vm docs clean

all: build links

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w -X main.version=$(VERSION)' -o bin/aoe ./cmd/aoe

links: build
	@for n in $(CLASSIC); do ln -sfn aoe bin/$$n; done

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 bin/aoe $(DESTDIR)$(SBINDIR)/aoe
	@for n in $(CLASSIC); do ln -sfn aoe $(DESTDIR)$(SBINDIR)/$$n; done
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/aoe $(addprefix $(DESTDIR)$(SBINDIR)/,$(CLASSIC))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(wildcard man/*.8)))

# Unit, golden and comparison tests (the comparison needs Debian's aoetools).
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# End-to-end against the real aoe driver: Debian 12's kernel in qemu, vblade
# targets on bridges in a network namespace (root; needs qemu-system-x86,
# busybox-static, cpio, vblade, aoetools). The kernel package is downloaded
# once into $(E2E_CACHE) and unpacked there, never installed.
E2E_CACHE ?= /var/tmp/aoe-e2e-cache
e2e: build links
	AOE_E2E_CACHE=$(E2E_CACHE) $(GO) test -tags e2e -count=1 -run TestE2E -v -timeout 30m ./cmd

# Benchmarks: aoe-stat on 1,000 and 10,000 devices, against aoetools'.
bench: build links
	AOE_BIN=$(CURDIR)/bin/aoe $(GO) test -run '^$$' -bench . -benchmem ./...

# The data path in the real-kernel guest: aoe read/bench, aoe nbd with
# /dev/nbd0, and the kernel aoe driver's /dev/etherd on one vblade target,
# side by side (root; e2e's needs plus nbd-client).
bench-vm: build links
	AOE_E2E_CACHE=$(E2E_CACHE) $(GO) test -tags e2e -count=1 -run '^$$' -bench BenchmarkE2EBlockIO -benchtime 1x -v -timeout 30m ./cmd

# Man pages and Markdown, generated from the commands (byte-stable).
docs:
	$(GO) run ./cmd/gendocs -man man -md docs

clean:
	rm -rf bin
