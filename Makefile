# ngx_http_session_module
#
#   make                 module + sessionctl + unit tests (build/)
#   make module          build/ngx_http_session_module.so against NGINX_SRC
#                        (NGX_DEBUG=0|1: without/with --with-debug; default
#                        as the tree's flags, Debian's have --with-debug;
#                        CC=clang for clang)
#   make test            everything in scripts/test (unit, prove t/)
#   make unit            C unit tests of the core
#   make unit-asan       the same under AddressSanitizer + UBSan
#   make fuzz            every libFuzzer target for FUZZ_SECONDS each
#   make install         the module, its modules-available snippet,
#                        sessionctl and its man page
#   make deb             build/deb/libnginx-mod-http-session_*.deb
#                        (docs/packaging.md; test: test/deb/run)
#
# NGINX_SRC defaults to Debian's nginx-dev tree, /usr/share/nginx/src.

NGINX_SRC    ?= /usr/share/nginx/src
BUILD        ?= build
CC           ?= cc
CFLAGS       ?= -O2 -g
WARN          = -Wall -Wextra -Werror
CORE_SRCS     = src/session_util.c src/session_keyring.c src/session_cookie.c \
                src/session_claims.c src/session_jws.c src/session_slot.c \
                src/session_record.c
CORE_HDRS     = src/session_core.h src/session_store.h src/session_jws.h \
                src/session_slot.h
SIG_SRCS      = src/session_sig.c src/session_tg.c
SIG_HDRS      = src/session_sig.h src/session_tg.h
LIBS_CORE     = -lsodium
LIBS_SIG      = -lsodium -lcrypto
LIBS_CTL      = -lsodium -lhiredis
FUZZ_SECONDS ?= 20
FUZZ_TARGETS  = $(basename $(notdir $(wildcard test/fuzz/fuzz_*.c)))
DESTDIR      ?=
MODULES_DIR  ?= /usr/lib/nginx/modules
AVAIL_DIR    ?= /usr/share/nginx/modules-available
BINDIR       ?= /usr/local/bin
MANDIR       ?= /usr/local/share/man
DEB_DIR      ?= $(BUILD)/deb
DEB_VERSION  := $(shell sed -n '1s/.*(\(.*\)-[^-]*).*/\1/p' debian/changelog)

.PHONY: all module sessionctl unit unit-asan fuzz test install deb clean

all: module sessionctl $(BUILD)/test_core $(BUILD)/test_sig $(BUILD)/test_jws \
    $(BUILD)/test_slot

module:
	NGINX_SRC=$(NGINX_SRC) BUILD=$(BUILD) NGX_DEBUG=$(NGX_DEBUG) CC=$(CC) \
	    scripts/build-module

sessionctl: $(BUILD)/sessionctl

CTL_SRCS      = $(wildcard tools/sessionctl/*.c) tools/sctl_cluster.c
CTL_HDRS      = tools/sessionctl/sessionctl.h tools/sctl_cluster.h

$(BUILD)/sessionctl: $(CTL_SRCS) $(CTL_HDRS) $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Isrc -Itools -Itools/sessionctl $(LDFLAGS) \
	    -o $@ $(CTL_SRCS) $(CORE_SRCS) $(LIBS_CTL)

$(BUILD)/test_core: test/unit/test_core.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -Isrc -o $@ test/unit/test_core.c $(CORE_SRCS) \
	    $(LIBS_CORE)

$(BUILD)/test_slot: test/unit/test_slot.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -Isrc -o $@ test/unit/test_slot.c $(CORE_SRCS) \
	    $(LIBS_CORE)

$(BUILD)/test_jws: test/unit/test_jws.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -Isrc -o $@ test/unit/test_jws.c $(CORE_SRCS) \
	    $(LIBS_CORE)

$(BUILD)/test_jws_asan: test/unit/test_jws.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	clang -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	    $(WARN) -Isrc -o $@ test/unit/test_jws.c $(CORE_SRCS) $(LIBS_CORE)

$(BUILD)/test_core_asan: test/unit/test_core.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	clang -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	    $(WARN) -Isrc -o $@ test/unit/test_core.c $(CORE_SRCS) $(LIBS_CORE)

$(BUILD)/test_sig: test/unit/test_sig.c $(CORE_SRCS) $(SIG_SRCS) $(CORE_HDRS) \
    $(CORE_HDRS) $(SIG_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -Isrc -o $@ test/unit/test_sig.c $(CORE_SRCS) \
	    $(SIG_SRCS) $(LIBS_SIG)

$(BUILD)/test_sig_asan: test/unit/test_sig.c $(CORE_SRCS) $(SIG_SRCS) \
    $(CORE_HDRS) $(SIG_HDRS)
	@mkdir -p $(BUILD)
	clang -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	    $(WARN) -Isrc -o $@ test/unit/test_sig.c $(CORE_SRCS) $(SIG_SRCS) \
	    $(LIBS_SIG)

unit: $(BUILD)/test_core $(BUILD)/test_sig $(BUILD)/test_jws $(BUILD)/test_slot
	$(BUILD)/test_core
	$(BUILD)/test_sig
	$(BUILD)/test_jws
	$(BUILD)/test_slot

unit-asan: $(BUILD)/test_core_asan $(BUILD)/test_sig_asan \
    $(BUILD)/test_jws_asan
	$(BUILD)/test_core_asan
	$(BUILD)/test_sig_asan
	$(BUILD)/test_jws_asan

$(BUILD)/fuzz/%: test/fuzz/%.c test/fuzz/fuzz.h $(CORE_SRCS) $(SIG_SRCS) \
    $(CORE_HDRS) $(SIG_HDRS)
	@mkdir -p $(BUILD)/fuzz
	clang -O1 -g -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Isrc -o $@ $< $(CORE_SRCS) $(SIG_SRCS) \
	    $(LIBS_SIG)

fuzz: $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
	FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) scripts/fuzz $(FUZZ_TARGETS)

test:
	scripts/test

install: module sessionctl
	install -d $(DESTDIR)$(MODULES_DIR) $(DESTDIR)$(AVAIL_DIR) \
	    $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(BUILD)/ngx_http_session_module.so \
	    $(DESTDIR)$(MODULES_DIR)/
	printf 'load_module modules/ngx_http_session_module.so;\n' \
	    > $(DESTDIR)$(AVAIL_DIR)/mod-http-session.conf
	install -m 0755 $(BUILD)/sessionctl $(DESTDIR)$(BINDIR)/
	install -m 0644 docs/sessionctl.1 $(DESTDIR)$(MANDIR)/man1/

# The Debian package, built with dpkg-buildpackage and debian/ (dh with
# the nginx sequence, as Debian's libnginx-mod-* packages are) in a copy
# of the sources, so that nothing is written outside $(DEB_DIR).
deb:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/libnginx-mod-http-session-$(DEB_VERSION)
	tar -cf - --exclude=./.git --exclude=./$(BUILD) --exclude='./t/servroot*' \
	    --exclude=./test/e2e/node_modules --exclude=./test/e2e/artifacts . \
	    | tar -xf - -C $(DEB_DIR)/libnginx-mod-http-session-$(DEB_VERSION)
	cd $(DEB_DIR)/libnginx-mod-http-session-$(DEB_VERSION) && \
	    dpkg-buildpackage -b -us -uc > ../build.log 2>&1 || \
	    { tail -n 40 ../build.log >&2; exit 1; }
	@ls $(DEB_DIR)/*.deb

clean:
	rm -rf $(BUILD)
