#!/usr/bin/env bash
# config's library checks: with the headers of one -dev package hidden,
# ./configure stops with one message naming that package (not a compiler
# error later in make).  The headers are hidden by an empty directory
# bind-mounted over them in a private mount namespace (root and unshare(1)
# needed; skipped otherwise), so nothing on the machine changes.  Then
# the module order config gives (ngx_module_order), and a build with that
# order changed, refused at nginx -t.
#
#   test/build/test_config.sh [NGINX_SRC]     default /usr/share/nginx/src
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
src=${1:-${NGINX_SRC:-/usr/share/nginx/src}}

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null \
   || ! unshare -m --propagation private true 2>/dev/null; then
    echo "ok - SKIP config checks: needs root and unshare -m"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/nginx"
cp -a "$src/." "$tmp/nginx/"
mkdir "$tmp/empty"
configure=./configure
[ -f "$tmp/nginx/configure" ] || configure=./auto/configure

fail=0
n=0
check() {   # hidden-dir package
    local dir=$1 pkg=$2 log rc=0
    log="$tmp/configure-$(basename "$1").log"
    n=$((n + 1))
    (cd "$tmp/nginx" && unshare -m --propagation private sh -c \
        "mount --bind '$tmp/empty' '$dir' \
         && $configure --with-compat --add-dynamic-module='$root'") \
        >"$log" 2>&1 || rc=$?
    if [ $rc -ne 0 ] && grep -q "error: ngx_http_session_module requires" "$log" \
       && grep -q "Install $pkg " "$log"; then
        echo "ok $n - without $dir: configure stops naming $pkg"
    else
        echo "not ok $n - without $dir: configure rc=$rc, no message naming $pkg"
        tail -n 8 "$log" | sed 's/^/#   /'
        fail=1
    fi
}

check /usr/include/hiredis libhiredis-dev
check /usr/include/sodium libsodium-dev
check /usr/include/openssl libssl-dev

# and with everything present it configures
n=$((n + 1))
if (cd "$tmp/nginx" && $configure --with-compat --add-dynamic-module="$root") \
       >"$tmp/configure-all.log" 2>&1; then
    echo "ok $n - with every library: configure passes"
else
    echo "not ok $n - with every library: configure fails"
    tail -n 8 "$tmp/configure-all.log" | sed 's/^/#   /'
    fail=1
fi

# the module order config sets (ngx_module_order), as nginx generated it
n=$((n + 1))
order=$(sed -n '/^char \*ngx_module_order\[\]/,/NULL/p' \
        "$tmp/nginx/objs/ngx_http_session_module_modules.c" \
        | tr -d ' ",' | grep -v -e '^char' -e NULL | tr '\n' ' ')
want="ngx_http_session_module ngx_http_session_filter_module \
ngx_http_session_registry_module ngx_http_copy_filter_module "
if [ "$order" = "$want" ]; then
    echo "ok $n - module order: $order"
else
    echo "not ok $n - module order: '$order', want '$want'"
    fail=1
fi

# a build with the order changed (registry before the access module) is
# refused at nginx -t by ngx_http_session_check_order(), naming config
n=$((n + 1))
if [ -x /usr/sbin/nginx ] && /usr/sbin/nginx -v 2>&1 \
       | grep -q "/$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
                    "$src/src/core/nginx.h")\$"; then
    mkdir -p "$tmp/addon" "$tmp/run/logs"
    cp -a "$root/src" "$tmp/addon/"
    sed -e 's/^ngx_module_order="ngx_http_session_module /ngx_module_order="ngx_http_session_registry_module ngx_http_session_module /' \
        -e 's/^\( *\)ngx_http_session_registry_module \\$/\1\\/' \
        "$root/config" > "$tmp/addon/config"
    cat > "$tmp/run/nginx.conf" <<CONF
load_module $tmp/nginx/objs/ngx_http_session_module.so;
events { }
http { }
CONF
    if (cd "$tmp/nginx" && $configure --with-compat \
            --add-dynamic-module="$tmp/addon" \
        && make -f objs/Makefile modules -j"$(nproc)") \
            >"$tmp/build-misordered.log" 2>&1 \
       && ! /usr/sbin/nginx -t -p "$tmp/run" -c "$tmp/run/nginx.conf" \
            >"$tmp/t.log" 2>&1 \
       && grep -q "module order wrong: \"ngx_http_session_registry_module\" must come after"  \
            "$tmp/t.log"; then
        echo "ok $n - a misordered build is refused at nginx -t"
    else
        echo "not ok $n - a misordered build is not refused"
        tail -n 8 "$tmp/build-misordered.log" "$tmp/t.log" 2>/dev/null \
            | sed 's/^/#   /'
        fail=1
    fi
else
    echo "ok $n - SKIP misordered build: no nginx of this version to load it"
fi
exit $fail
