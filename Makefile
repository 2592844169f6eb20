# aoe: ATA over Ethernet tools. See README.md.
#
#   make                      build bin/aoe, the classic-name links and the
#                             shell completions (as your user)
#   sudo make install         install what make built (never builds)
#   make deb                  bin/goaoe_VERSION_ARCH.deb, replacing aoetools
PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
GO      ?= go
# The release is the VERSION file; builds from git add the commit as build
# metadata (0.9.0+git.20261206114737.59921dc: commit time, hash). The
# package's version is the same string.
VERSION ?= $(shell sh dist/debian/version.sh)
DEBVERSION ?= $(VERSION)

# The aoetools names the binary answers to (symlinks to aoe).
CLASSIC := aoe-stat aoe-discover aoe-interfaces aoe-revalidate aoe-flush aoe-version aoecfg aoeping aoe-sancheck aoe-mkdevs aoe-mkshelf

.PHONY: all build links completions install uninstall test lint e2e e2e-boot bench bench-vm soak docs deb deb-lint clean

all: build links completions

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w -X main.version=$(VERSION)' -o bin/aoe ./cmd/aoe

links: build
	@for n in $(CLASSIC); do ln -sfn aoe bin/$$n; done

# Shell completions, made by the binary itself; the classic names complete
# too (bash and zsh through the same functions, fish through one file each).
completions: build
	@mkdir -p bin/completions
	bin/aoe completion bash > bin/completions/aoe.bash
	printf '\ncomplete -o default -F __start_aoe $(CLASSIC)\n' >> bin/completions/aoe.bash
	bin/aoe completion zsh | sed '1s/.*/#compdef aoe $(CLASSIC)/' > bin/completions/_aoe
	bin/aoe completion fish > bin/completions/aoe.fish
	@for n in $(CLASSIC); do sed "s/^complete -c aoe /complete -c $$n /" bin/completions/aoe.fish > bin/completions/$$n.fish; done

# install copies what `make` built and never runs go: under sudo, go is
# usually not on root's PATH (secure_path), and building as root would
# leave root-owned files in the tree.
install:
	@test -x bin/aoe -a -f bin/completions/aoe.bash || { echo "bin/aoe is missing: run 'make' first (as your user), then 'sudo make install'" >&2; exit 1; }
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0755 bin/aoe $(DESTDIR)$(SBINDIR)/aoe
	@for n in $(CLASSIC); do ln -sfn aoe $(DESTDIR)$(SBINDIR)/$$n; done
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 bin/completions/aoe.bash $(DESTDIR)$(BASHCOMPDIR)/aoe
	@for n in $(CLASSIC); do ln -sfn aoe $(DESTDIR)$(BASHCOMPDIR)/$$n; done
	install -m 0644 bin/completions/_aoe $(DESTDIR)$(ZSHCOMPDIR)/_aoe
	install -m 0644 bin/completions/*.fish $(DESTDIR)$(FISHCOMPDIR)/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/aoe $(addprefix $(DESTDIR)$(SBINDIR)/,$(CLASSIC))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(wildcard man/*.8)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(wildcard man/*.5)))
	rm -f $(DESTDIR)$(BASHCOMPDIR)/aoe $(addprefix $(DESTDIR)$(BASHCOMPDIR)/,$(CLASSIC))
	rm -f $(DESTDIR)$(ZSHCOMPDIR)/_aoe $(DESTDIR)$(FISHCOMPDIR)/aoe.fish $(patsubst %,$(DESTDIR)$(FISHCOMPDIR)/%.fish,$(CLASSIC))

# The Debian package (dpkg-deb; works as a normal user). It replaces
# aoetools: the same names in /usr/sbin, units, udev rules, initramfs-tools
# and dracut hooks. /etc/aoe/aoe.conf is made by postinst from
# /usr/share/goaoe/aoe.conf (nothing on), or from what aoetools did when it
# replaces an aoetools in use (see dist/debian/preinst); /etc/default/
# aoe-exporter is a conffile. Files others add under dist/systemd and
# dist/monitoring are picked up by the globs. The copyright file lists the
# Go modules compiled into bin/aoe, with their licences (dist/debian/copyright.sh).
DEBARCH ?= $(shell dpkg --print-architecture 2>/dev/null || $(GO) env GOARCH)
DEB     := bin/goaoe_$(DEBVERSION)_$(DEBARCH).deb
DEBROOT := bin/deb
deb: all
	rm -rf $(DEBROOT) bin/goaoe_*.deb
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(DEBROOT) PREFIX=/usr \
		ZSHCOMPDIR=/usr/share/zsh/vendor-completions
	gzip -9n $(DEBROOT)/usr/share/man/man8/*.8 $(DEBROOT)/usr/share/man/man5/*.5
	install -d $(DEBROOT)/DEBIAN $(DEBROOT)/etc/default $(DEBROOT)/lib/systemd/system $(DEBROOT)/lib/udev/rules.d \
		$(DEBROOT)/usr/share/initramfs-tools/hooks $(DEBROOT)/usr/share/initramfs-tools/scripts/local-top \
		$(DEBROOT)/usr/lib/dracut/modules.d/90aoe $(DEBROOT)/usr/share/doc/goaoe $(DEBROOT)/usr/share/goaoe
	install -m 0644 dist/aoe.conf $(DEBROOT)/usr/share/goaoe/aoe.conf
	install -m 0644 dist/aoe-exporter.default $(DEBROOT)/etc/default/aoe-exporter
	install -m 0644 $(wildcard dist/systemd/*.service dist/systemd/*.socket dist/systemd/*.timer dist/systemd/*.path) $(DEBROOT)/lib/systemd/system/
	ln -s /dev/null $(DEBROOT)/lib/systemd/system/aoetools.service
	install -m 0644 dist/udev/*.rules $(DEBROOT)/lib/udev/rules.d/
	install -m 0755 dist/initramfs-tools/hooks/aoe $(DEBROOT)/usr/share/initramfs-tools/hooks/aoe
	install -m 0755 dist/initramfs-tools/scripts/local-top/aoe $(DEBROOT)/usr/share/initramfs-tools/scripts/local-top/aoe
	install -m 0755 dist/dracut/90aoe/*.sh $(DEBROOT)/usr/lib/dracut/modules.d/90aoe/
	@if [ -d dist/monitoring ]; then install -d $(DEBROOT)/usr/share/aoe && cp -r dist/monitoring $(DEBROOT)/usr/share/aoe/ && chmod -R u=rwX,go=rX $(DEBROOT)/usr/share/aoe; fi
	GO=$(GO) sh dist/debian/copyright.sh bin/aoe dist/debian/copyright > $(DEBROOT)/usr/share/doc/goaoe/copyright
	install -D -m 0644 dist/debian/lintian-overrides $(DEBROOT)/usr/share/lintian/overrides/goaoe
	printf 'goaoe (%s) unstable; urgency=medium\n\n  * Release %s (VERSION), built from git commit %s.\n\n -- goaoe developers <goaoe@users.noreply.github.com>  %s\n' \
		'$(DEBVERSION)' "$$(cat VERSION)" "$$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)" "$$(git log -1 --format=%aD 2>/dev/null || date -R)" | gzip -9n > $(DEBROOT)/usr/share/doc/goaoe/changelog.gz
	install -m 0755 dist/debian/preinst dist/debian/postinst dist/debian/prerm dist/debian/postrm $(DEBROOT)/DEBIAN/
	install -m 0644 dist/debian/triggers $(DEBROOT)/DEBIAN/triggers
	cd $(DEBROOT) && find etc -type f | sed 's|^|/|' | sort > DEBIAN/conffiles
	cd $(DEBROOT) && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum > DEBIAN/md5sums
	sed -e 's/@VERSION@/$(DEBVERSION)/' -e 's/@ARCH@/$(DEBARCH)/' \
		-e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(DEBROOT) | cut -f1)/" dist/debian/control.in > $(DEBROOT)/DEBIAN/control
	dpkg-deb --root-owner-group -Zxz --build $(DEBROOT) $(DEB)

# lintian on the package: no error or warning allowed (needs lintian).
deb-lint: deb
	lintian --fail-on error,warning --tag-display-limit 0 $(DEB)

# Unit, golden and comparison tests (the comparison needs Debian's aoetools).
# `make test` also holds the code to the project's habits: gofmt, go vet,
# staticcheck (installed on first use into $(GOBIN) from the module proxy,
# at a pinned version) and the race detector over the packages that run
# goroutines.
STATICCHECK_VERSION ?= v0.6.1
GOBIN ?= $(shell $(GO) env GOPATH)/bin
RACE_PKGS ?= ./initiator/... ./discover/... ./internal/nbd/... ./internal/blockio/... ./internal/events/... ./internal/exporter/... ./internal/soak/...
test: lint
	$(GO) test -count=1 ./...
	$(GO) test -race -count=1 $(RACE_PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	@test -x $(GOBIN)/staticcheck && $(GOBIN)/staticcheck -version | grep -q '$(STATICCHECK_VERSION:v%=%)' || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GOBIN)/staticcheck ./...
	$(GOBIN)/staticcheck -tags e2e ./...

# End-to-end against the real aoe driver: Debian 12's kernel in qemu, vblade
# targets on bridges in a network namespace (root; needs qemu-system-x86,
# busybox-static, cpio, vblade, aoetools). The kernel package is downloaded
# once into $(E2E_CACHE) and unpacked there, never installed.
E2E_CACHE ?= /var/tmp/aoe-e2e-cache
e2e: build links
	AOE_E2E_CACHE=$(E2E_CACHE) $(GO) test -tags e2e -count=1 -run TestE2E -v -timeout 30m ./cmd

# Boot integration on a real Debian 12 with systemd as PID 1 (root; needs
# mmdebstrap, qemu-system-x86, qemu-utils, e2fsprogs, vblade, lintian): the
# image is built once from Debian's archive and cached in $(E2E_CACHE).
e2e-boot: deb
	AOE_E2E_CACHE=$(E2E_CACHE) AOE_DEB=$(CURDIR)/$(DEB) $(GO) test -tags e2e -count=1 -run TestBoot -v -timeout 100m ./internal/boot

# Benchmarks: aoe-stat on 1,000 and 10,000 devices, against aoetools';
# the data path against the floors (BenchmarkVbladeRead); the NBD server.
bench: build links
	AOE_BIN=$(CURDIR)/bin/aoe $(GO) test -run '^$$' -bench . -benchmem ./...

# The randomized end-to-end soak of the data path (internal/soak): random
# seeds for AOE_SOAK_SECONDS (default 300) per package, on initiator.Disk,
# the NBD server and aoe read/write; a failure prints AOE_SOAK_SEED=N.
AOE_SOAK_SECONDS ?= 300
soak:
	@mkdir -p bin
	@AOE_SOAK_SECONDS=$(AOE_SOAK_SECONDS) $(GO) test -tags soak -count=1 -run Soak -v -timeout 60m ./internal/soak ./cmd > bin/soak.log 2>&1; \
		rc=$$?; grep -v -e '^=== RUN' -e '^    --- PASS' -e '^--- PASS: TestSoak[A-Za-z]*/' bin/soak.log; exit $$rc

# The data path in the real-kernel guest: aoe read/bench, the floors, aoe
# nbd with /dev/nbd0 (1 and 2 connections), fio, the NBD ceiling (qemu-nbd
# serving RAM), and the kernel aoe driver's /dev/etherd on one vblade
# target, side by side, at MTU 1500 and 9000, with 1 and 2 vCPUs (root;
# e2e's needs plus nbd-client, fio, strace, qemu-utils, and gcc with
# libc6-dev for the C floor). It writes
# docs/performance.md and docs/performance.svg.
bench-vm: build links
	rm -rf bin/bench-vm
	AOE_E2E_CACHE=$(E2E_CACHE) AOE_BENCH_VM_OUT=$(CURDIR)/bin/bench-vm $(GO) test -tags e2e -count=1 -run '^$$' -bench BenchmarkE2EBlockIO -benchtime 1x -v -timeout 150m ./cmd
	$(GO) run ./internal/aoelab/benchchart -in bin/bench-vm -md docs/performance.md -svg docs/performance.svg

# Man pages and Markdown, generated from the commands (byte-stable).
docs:
	$(GO) run ./cmd/gendocs -man man -md docs

clean:
	rm -rf bin
