#!/usr/bin/env bash
#
# End-to-end test of sessionctl against a private redis-server on a free
# loopback port (and a unix socket).  Prints TAP lines and a summary; exits
# non-zero if anything failed.
#
#   test/cli/test_sessionctl.sh            builds build/sessionctl first
#   SESSIONCTL=/path/to/sessionctl test/cli/test_sessionctl.sh
#
# Needs redis-server, redis-cli and jq.

set -uo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)

if [ -z "${SESSIONCTL:-}" ]; then
    make -s -C "$root" BUILD=build sessionctl >&2 || exit 2
    SESSIONCTL="$root/build/sessionctl"
fi

for tool in redis-server redis-cli jq; do
    if ! command -v "$tool" >/dev/null; then
        echo "Bail out! $tool not found"
        exit 2
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sessionctl-test.XXXXXX")
redis_pid=
sub_pid=

cleanup() {
    if [ -n "$sub_pid" ]; then
        kill "$sub_pid" 2>/dev/null
        wait "$sub_pid" 2>/dev/null
    fi
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}

trap cleanup EXIT
trap 'exit 2' INT TERM


# redis-server on a free loopback port, in the foreground of a child

start_redis() {
    local try

    for try in $(seq 1 20); do
        port=$((20000 + RANDOM % 40000))

        redis-server --port "$port" --bind 127.0.0.1 --save '' \
            --appendonly no --dir "$tmp" \
            --unixsocket "$tmp/redis.sock" --unixsocketperm 700 \
            --logfile "$tmp/redis.log" &
        redis_pid=$!

        for _ in $(seq 1 50); do
            if ! kill -0 "$redis_pid" 2>/dev/null; then
                break
            fi
            if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
                return 0
            fi
            sleep 0.1
        done

        kill "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
        redis_pid=
        rm -f "$tmp/redis.sock"
    done

    return 1
}

if ! start_redis; then
    echo "Bail out! cannot start redis-server"
    exit 2
fi

rcli() {
    redis-cli -p "$port" "$@"
}


# TAP

n=0
passed=0
failed=0

ok() {
    n=$((n + 1))
    passed=$((passed + 1))
    echo "ok $n - $1"
}

not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
}

# check DESCRIPTION COMMAND...: ok if COMMAND succeeds
check() {
    local desc=$1
    shift

    if "$@"; then
        ok "$desc"
    else
        not_ok "$desc"
        echo "#   failed: $*"
    fi
}

# run ARGS...: runs sessionctl; sets OUT, ERR and RC
run() {
    OUT=$("$SESSIONCTL" "$@" 2>"$tmp/stderr")
    RC=$?
    ERR=$(cat "$tmp/stderr")
}

# expect RC DESCRIPTION ARGS...: runs sessionctl, checks the exit status
expect() {
    local want=$1 desc=$2
    shift 2

    run "$@"

    if [ "$RC" = "$want" ]; then
        ok "$desc (exit $want)"
    else
        not_ok "$desc (exit $want)"
        echo "#   got exit $RC: sessionctl $*"
        echo "#   stdout: $OUT" | head -5
        echo "#   stderr: $ERR" | head -5
    fi
}

has() {
    case "$1" in *"$2"*) return 0 ;; esac
    return 1
}

matches() {
    [[ $1 =~ $2 ]]
}

is() {
    [ "$1" = "$2" ] || { echo "#   '$1' != '$2'"; return 1; }
}

cd "$tmp" || exit 2

R=(--redis "127.0.0.1:$port")
K=(--keys "$tmp/keys")
cookie_re='^[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$'


# usage

expect 0 "--help" --help
check "--help prints the usage" has "$OUT" "Usage: sessionctl"
expect 0 "create --help" create --help
check "create --help prints the command usage" has "$OUT" "--absolute"
expect 1 "no command"
check "usage errors are prefixed" has "$ERR" "sessionctl: "
expect 1 "unknown command" frobnicate
expect 1 "unknown option" --frob list alice
expect 1 "option of another command" list alice --kid x
expect 1 "missing argument" show
expect 1 "extra argument" show a b
expect 1 "option without its value" list alice --db
expect 1 "--db not a number" --db x list alice
expect 1 "--redis malformed host name" --redis bad/name:6379 list alice
expect 2 "--redis host name that does not resolve" --redis nope.invalid:6379 \
    list alice
expect 1 "--redis without port" --redis 127.0.0.1 list alice
expect 1 "--redis port out of range" --redis 127.0.0.1:70000 list alice
expect 1 "empty --prefix" --prefix "" list alice
expect 1 "--prefix over 128 bytes" --prefix "$(printf 'p%.0s' $(seq 129))" \
    list alice
expect 1 "--user without --password-file" "${R[@]}" --user u list alice


# keygen and rotate

expect 0 "keygen" keygen keys --kid k1
check "keygen prints the kid" is "$OUT" k1
check "key file mode is 0600" is "$(stat -c %a keys)" 600
check "key file has one key of 32 bytes" \
    matches "$(cat keys)" '^k1 [A-Za-z0-9_-]{43}$'
expect 2 "keygen refuses to overwrite" keygen keys
check "keygen error names --force" has "$ERR" "--force"
check "the refused file is unchanged" matches "$(cat keys)" '^k1 '
expect 0 "keygen --force" keygen keys --force --kid k0
check "keygen --force replaced the key" matches "$(cat keys)" '^k0 '
expect 0 "keygen --force back to k1" keygen keys --force --kid k1
expect 0 "keygen with a default kid" keygen other
check "default kid is k<UTC time>" matches "$OUT" '^k[0-9]{14}$'
expect 1 "keygen bad kid" keygen bad --kid 'no/slash'
check "no file for a bad kid" test ! -e bad
expect 0 "keygen --json" --json keygen jk --kid j1
check "keygen --json output" is "$(jq -c '[.kid, .keys]' <<<"$OUT")" '["j1",1]'

old_key=$(cat keys)
cp keys keys.old
expect 0 "rotate" rotate keys --kid k2
check "rotate prints the new kid" is "$OUT" k2
check "rotate prepends the new key" \
    matches "$(head -1 keys)" '^k2 [A-Za-z0-9_-]{43}$'
check "rotate keeps the old key" is "$(tail -1 keys)" "$old_key"
check "rotated file mode is 0600" is "$(stat -c %a keys)" 600
check "no temporary file left" is "$(ls | grep -c tmp)" 0
expect 1 "rotate to an existing kid" rotate keys --kid k1
expect 2 "rotate a missing file" rotate missing
printf 'k1 %s\nbad!kid xyz\n' "${old_key#k1 }" > broken
chmod 600 broken
expect 2 "rotate an invalid file" rotate broken
check "key file error names file and line" has "$ERR" "broken:2: "
expect 0 "rotate --json" --json rotate jk --kid j2
check "rotate --json output" is "$(jq -c '[.kid, .keys]' <<<"$OUT")" '["j2",2]'


# assertion-keygen and assertion-rotate (session_assertion_keys)

expect 0 "assertion-keygen" assertion-keygen akeys --kid a1
check "assertion-keygen prints the kid" is "$OUT" a1
check "assertion key file mode is 0600" is "$(stat -c %a akeys)" 600
check "assertion key file: one 32-byte seed" \
    matches "$(cat akeys)" '^a1 [A-Za-z0-9_-]{43}$'
expect 2 "assertion-keygen refuses to overwrite" assertion-keygen akeys
old_akey=$(cat akeys)
expect 0 "assertion-rotate" assertion-rotate akeys --kid a2
check "assertion-rotate prepends the new seed" \
    matches "$(head -1 akeys)" '^a2 [A-Za-z0-9_-]{43}$'
check "assertion-rotate keeps the old seed" is "$(tail -1 akeys)" "$old_akey"
check "rotated assertion file mode is 0600" is "$(stat -c %a akeys)" 600
expect 1 "assertion-rotate to an existing kid" assertion-rotate akeys --kid a1
printf 'a1 %s\n' "$(head -c 48 /dev/urandom | base64 -w0)" > abad
chmod 600 abad
expect 2 "assertion-rotate a file of 48-byte secrets" assertion-rotate abad
check "the seed size error names file and line" has "$ERR" "abad:1: seed is 48 bytes"
expect 0 "assertion-rotate --json" --json assertion-rotate akeys --kid a3
check "assertion-rotate --json output" \
    is "$(jq -c '[.kid, .keys]' <<<"$OUT")" '["a3",3]'


# create, show, inspect

expect 0 "create" "${K[@]}" "${R[@]}" create alice role=admin \
    'team=a b/ü;' --idle 10m --absolute 1h
c1=$OUT
check "create prints only the cookie" matches "$c1" "$cookie_re"
check "cookie signed with the first key" has "$c1" "k2."
token=$(cut -d. -f2 <<<"$c1")

skeys=$(rcli --scan --pattern 'session:s:*')
check "one session record" is "$(wc -l <<<"$skeys")" 1
skey=$skeys
hash=${skey#session:s:}
check "record key is prefix s: 64 hex" matches "$hash" '^[0-9a-f]{64}$'
check "record sub" is "$(rcli hget "$skey" sub)" alice
check "record claims are percent-encoded" \
    is "$(rcli hget "$skey" cl)" "role=admin; team=a%20b%2F%C3%BC%3B"
check "record cre = last" \
    is "$(rcli hget "$skey" cre)" "$(rcli hget "$skey" last)"
check "record abs = cre + 1h" \
    is "$(rcli hget "$skey" abs)" "$(( $(rcli hget "$skey" cre) + 3600 ))"
ttl=$(rcli ttl "$skey")
check "record TTL = idle" test "$ttl" -gt 590 -a "$ttl" -le 600
check "subject index holds the hash" \
    is "$(rcli sismember session:u:alice "$hash")" 1
ttl=$(rcli ttl session:u:alice)
check "subject index TTL = absolute" test "$ttl" -gt 3590 -a "$ttl" -le 3600
check "the raw token is not in Redis" \
    test -z "$(rcli --scan | grep -F -- "$token")$(rcli hgetall "$skey" \
        | grep -F -- "$token")"

expect 0 "create --json" "${K[@]}" "${R[@]}" --json create alice
check "create --json fields" \
    matches "$(jq -r '"\(.id) \(.expires - now | floor)"' <<<"$OUT")" \
    '^[0-9a-f]{16} (4319[0-9]|43200)$'
c2=$(jq -r .cookie <<<"$OUT")
check "create --json cookie" matches "$c2" "$cookie_re"
check "default idle is 30m" test "$("$SESSIONCTL" --json "${R[@]}" \
    list alice | jq '[.sessions[].ttl] | max')" -gt 1790

expect 0 "show" "${K[@]}" "${R[@]}" show "$c1"
check "show: kid" matches "$OUT" $'kid: +k2\n'
check "show: public id" matches "$OUT" $'public id: +[0-9a-f]{16}\n'
check "show: MAC valid with the current key" has "$OUT" "valid (key 0"
check "show: subject" matches "$OUT" $'subject: +alice\n'
check "show: created" matches "$OUT" 'created: +[0-9-]+T[0-9:]+Z \([0-9]+\)'
check "show: last seen" has "$OUT" "last seen:"
check "show: expires" has "$OUT" "expires:"
check "show: ttl" matches "$OUT" $'ttl: +[0-9]+\n'
check "show: claims" has "$OUT" "role=admin; team=a%20b"
check "show never prints the token" bash -c '! grep -qF -- "$1" <<<"$2"' \
    _ "$token" "$OUT"
expect 0 "show --json" "${K[@]}" "${R[@]}" --json show "$c1"
check "show --json: fields" \
    is "$(jq -c '[.kid, .mac, .key_index, .found, .subject]' <<<"$OUT")" \
    '["k2","valid",0,true,"alice"]'
check "show --json: decoded claims" \
    is "$(jq -c .claims <<<"$OUT")" '{"role":"admin","team":"a b/ü;"}'
check "show --json: expires - created" \
    is "$(jq '.expires - .created' <<<"$OUT")" 3600
check "show --json: ref is the record hash prefix" \
    is "$(jq -r .ref <<<"$OUT")" "${hash:0:16}"
pid=$(jq -r .id <<<"$OUT")
OUT=$(printf '%s\n' "$c1" | "$SESSIONCTL" "${K[@]}" "${R[@]}" show - 2>&1)
RC=$?
check "show - reads the cookie from stdin" has "$OUT" "subject:    alice"
expect 1 "show needs --keys" "${R[@]}" show "$c1"

expect 0 "inspect without keys" inspect "$c1"
check "inspect: MAC not checked" has "$OUT" "not checked"
check "inspect: public id matches show" has "$OUT" "$pid"
expect 0 "inspect with keys" "${K[@]}" inspect "$c1"
check "inspect: MAC valid" has "$OUT" "valid (key 0"
expect 3 "inspect: key file without the signing key" \
    --keys keys.old --json inspect "$c1"
check "inspect --json: unknown_kid" is "$(jq -r .mac <<<"$OUT")" \
    unknown_kid

last=${c1: -1}
if [ "$last" = A ]; then swap=Q; else swap=A; fi
tampered="${c1%?}$swap"
expect 3 "inspect: tampered MAC" "${K[@]}" inspect "$tampered"
check "inspect: bad MAC reported" has "$OUT" "invalid (bad MAC)"
expect 3 "show: tampered MAC" "${K[@]}" "${R[@]}" show "$tampered"
check "show: invalid cookie on stderr" has "$ERR" "sessionctl: invalid"
expect 3 "inspect: malformed" "${K[@]}" inspect "not-a-cookie"
expect 3 "inspect --json: malformed" --json inspect "a.b.c"
check "inspect --json: malformed output" \
    is "$(jq -r .mac <<<"$OUT")" malformed
expect 3 "inspect: standard base64 alphabet" \
    inspect "k1.$(printf '%043d' 0 | tr 0 +).$(printf '%043d' 0)"


# a cookie of the previous key is valid and flagged for re-issue

old_cookie=$("$SESSIONCTL" --keys keys.old "${R[@]}" create olduser)
expect 0 "show: cookie of a previous key" "${K[@]}" "${R[@]}" --json \
    show "$old_cookie"
check "show: key_index 1" is "$(jq .key_index <<<"$OUT")" 1


# list

expect 0 "list" "${R[@]}" list alice
check "list: header and two sessions" is "$(wc -l <<<"$OUT")" 3
check "list: ref, dates, ttl" \
    matches "$(sed -n 2p <<<"$OUT")" \
    '^[0-9a-f]{16}  ([0-9-]+T[0-9:]+Z  ){3}[0-9]+ +[0-9a-f]{16}  sessionctl  -  -$'
check "list never prints the token" bash -c '! grep -qF -- "$1" <<<"$2"' \
    _ "$token" "$OUT"
rcli sadd session:u:alice "$(printf '%064d' 0)" junk >/dev/null
expect 0 "list --json with stale entries" "${R[@]}" --json list alice
check "list --json: two sessions" is "$(jq '.sessions | length' <<<"$OUT")" 2
check "list --json: pruned 2" is "$(jq .pruned <<<"$OUT")" 2
check "list --json: session fields" \
    is "$(jq -c '.sessions[0] | keys' <<<"$OUT")" \
    '["created","expires","hash","id","ip","last","ref","ttl","user_agent","via"]'
check "stale entries left the index" is "$(rcli scard session:u:alice)" 2
expect 0 "list of an unknown subject" "${R[@]}" list nobody
check "list of an unknown subject prints nothing" is "$OUT" ""


# revoke

redis-cli -p "$port" subscribe session:revoked > "$tmp/sub" &
sub_pid=$!
sleep 0.3
expect 0 "revoke" "${K[@]}" "${R[@]}" revoke "$c1"
check "revoke prints nothing" is "$OUT" ""
check "record deleted" is "$(rcli exists "$skey")" 0
check "hash left the subject index" \
    is "$(rcli sismember session:u:alice "$hash")" 0
sleep 0.3
kill "$sub_pid" 2>/dev/null
wait "$sub_pid" 2>/dev/null
sub_pid=
check "revocation published on <prefix>revoked" grep -qx "$hash" "$tmp/sub"
expect 3 "revoke again: not found" "${K[@]}" "${R[@]}" revoke "$c1"
check "not found on stderr" has "$ERR" "not found"
expect 3 "show after revoke: not found" "${K[@]}" "${R[@]}" show "$c1"
check "show: record not found" has "$OUT" "not found"
expect 3 "show --json after revoke" "${K[@]}" "${R[@]}" --json show "$c1"
check "show --json: found false" is "$(jq .found <<<"$OUT")" false
expect 3 "revoke: tampered cookie" "${K[@]}" "${R[@]}" revoke "$tampered"
check "tampered cookie did not revoke" \
    is "$("$SESSIONCTL" "${R[@]}" --json list alice | jq '.sessions|length')" 1


# revoke-all

for i in 1 2 3; do
    "$SESSIONCTL" "${K[@]}" "${R[@]}" create bob "n=$i" >/dev/null
done
rcli sadd session:u:bob "$(printf '%064d' 1)" >/dev/null
expect 0 "revoke-all" "${R[@]}" revoke-all bob
check "revoke-all prints the count" is "$OUT" 3
check "subject index is empty" is "$(rcli exists session:u:bob)" 0
expect 0 "revoke-all again" "${R[@]}" --json revoke-all bob
check "revoke-all --json: 0" is "$(jq -c '[.subject, .revoked]' <<<"$OUT")" \
    '["bob",0]'
check "alice keeps her session" \
    is "$("$SESSIONCTL" "${R[@]}" --json list alice | jq '.sessions|length')" 1


# create: argument errors

expect 1 "create without --keys" "${R[@]}" create alice
expect 1 "create: subject with a control character" \
    "${K[@]}" "${R[@]}" create $'a\tb'
expect 1 "create: empty subject" "${K[@]}" "${R[@]}" create ""
expect 1 "create: subject of 257 bytes" "${K[@]}" "${R[@]}" \
    create "$(printf 'a%.0s' $(seq 257))"
expect 0 "create: subject of 256 bytes" "${K[@]}" "${R[@]}" \
    create "$(printf 'a%.0s' $(seq 256))"
expect 1 "create: bad claim name" "${K[@]}" "${R[@]}" create alice a-b=1
expect 1 "create: claim without =" "${K[@]}" "${R[@]}" create alice ab
expect 1 "create: duplicate claim" "${K[@]}" "${R[@]}" create alice a=1 a=2
expect 1 "create: duplicate claim in another case" "${K[@]}" "${R[@]}" \
    create alice Role=1 role=2
check "duplicate claim message" has "$ERR" "given twice"
expect 1 "create: 17 claims" "${K[@]}" "${R[@]}" create alice \
    $(for i in $(seq 17); do printf 'c%d=x ' "$i"; done)
expect 1 "create: claims over 4096 bytes" "${K[@]}" "${R[@]}" create alice \
    "a=$(head -c 1500 /dev/zero | tr '\0' '/')"
expect 1 "create: --idle 0" "${K[@]}" "${R[@]}" create alice --idle 0
expect 1 "create: --idle 5x" "${K[@]}" "${R[@]}" create alice --idle 5x
expect 1 "create: --absolute in the wrong unit order" \
    "${K[@]}" "${R[@]}" create alice --absolute 30m1h
expect 0 "create: --absolute 1h30m, --idle 90" "${K[@]}" "${R[@]}" --json \
    create times --absolute 1h30m --idle 90
left=$(( $(jq .expires <<<"$OUT") - $(date +%s) ))
check "absolute 1h30m" test "$left" -ge 5398 -a "$left" -le 5400
check "idle 90" test "$(rcli ttl "session:s:$("$SESSIONCTL" "${R[@]}" \
    --json list times | jq -r '.sessions[0].hash')")" -le 90
expect 0 "create: subject starting with - after --" "${K[@]}" "${R[@]}" \
    create -- -dash
expect 0 "list -- -dash" "${R[@]}" --json list -- -dash
check "list -- -dash: one session" is "$(jq '.sessions|length' <<<"$OUT")" 1


# expiry

expect 0 "create with --absolute 1s" "${K[@]}" "${R[@]}" create short \
    --absolute 1s
short=$OUT
sleep 2
expect 3 "show after the absolute expiry: not found" "${K[@]}" "${R[@]}" \
    show "$short"


# runtime errors

expect 2 "Redis unreachable" "${K[@]}" --redis 127.0.0.1:1 show "$c2"
check "unreachable: message" has "$ERR" "sessionctl: redis 127.0.0.1:1"
expect 2 "Redis unreachable: create" "${K[@]}" --redis 127.0.0.1:1 \
    create alice
expect 2 "Redis unix socket missing" --redis "unix:$tmp/nope.sock" list x
expect 2 "key file missing" --keys "$tmp/nope" inspect "$c2"
expect 2 "key file invalid" --keys broken inspect "$c2"
check "key file error: file:line: message" has "$ERR" "broken:2: "
: > empty
expect 2 "key file empty" --keys empty inspect "$c2"
check "key file error names the file" has "$ERR" "sessionctl: empty: "
expect 2 "--db out of range" "${R[@]}" --db 100000 list alice


# AUTH, SELECT, prefix, unix socket

rcli acl setuser ops on '>s3cret' '~*' '&*' '+@all' >/dev/null
printf 's3cret\n' > pw
printf 'wrong\n' > badpw
expect 0 "AUTH user password" "${R[@]}" --user ops --password-file pw \
    list alice
expect 2 "AUTH with a wrong password" "${R[@]}" --user ops \
    --password-file badpw list alice
check "AUTH error does not print the password" \
    bash -c '! grep -q wrong <<<"$1"' _ "$ERR"
expect 2 "password file missing" "${R[@]}" --password-file nope list alice

expect 0 "create in db 2 with prefix app:" "${K[@]}" "${R[@]}" --db 2 \
    --prefix app: create carol
c3=$OUT
check "record in db 2 under app:s:" \
    is "$(redis-cli -p "$port" -n 2 --scan --pattern 'app:s:*' | wc -l)" 1
check "index in db 2 under app:u:" \
    is "$(redis-cli -p "$port" -n 2 exists app:u:carol)" 1
expect 0 "show in db 2" "${K[@]}" "${R[@]}" --db 2 --prefix app: show "$c3"
expect 3 "not in db 0" "${K[@]}" "${R[@]}" --prefix app: show "$c3"
expect 3 "not under the default prefix" "${K[@]}" "${R[@]}" --db 2 \
    show "$c3"
expect 0 "unix socket" "${K[@]}" --redis "unix:$tmp/redis.sock" --db 2 \
    --prefix app: show "$c3"
expect 0 "localhost" "${K[@]}" --redis "localhost:$port" --db 2 \
    --prefix app: revoke "$c3"


# hostile bytes in a record (written by whoever can write to Redis) never
# reach the terminal raw: C1 controls, bidi controls, invalid UTF-8, ESC

run "${K[@]}" "${R[@]}" --prefix esc: create plain
ce=$OUT
ekey=$(rcli --scan --pattern 'esc:s:*' | head -1)
rcli HSET "$ekey" sub "$(printf 'a\xc2\x9b31mB\xff\xfeC\x1b[2JD\xe2\x80\xaeE\\F\xc3\xa9')" \
    cl "$(printf 'x=\xc2\x9d0;t\xc2\x9c')" >/dev/null
expect 0 "show: a hostile subject" "${K[@]}" "${R[@]}" --prefix esc: show "$ce"
check "show: C1 control escaped" has "$OUT" 'a\u009b31mB'
check "show: invalid UTF-8 escaped" has "$OUT" 'B\xff\xfeC'
check "show: ESC escaped" has "$OUT" 'C\x1b[2JD'
check "show: bidi override escaped" has "$OUT" 'D\u202eE'
check "show: backslash doubled" has "$OUT" 'E\\F'
check "show: valid UTF-8 kept" has "$OUT" "$(printf 'F\xc3\xa9')"
check "show: C1 in claims escaped" has "$OUT" 'x=\u009d0;t\u009c'
check "show: no raw C1, ESC or invalid byte" bash -c \
    '! LC_ALL=C grep -q "$(printf "\\xc2[\\x80-\\x9f]\\|\\x1b\\|\\xff\\|\\xe2\\x80\\xae")" <<<"$1"' _ "$OUT"

expect 0 "show --json: a hostile subject" "${K[@]}" "${R[@]}" --prefix esc: \
    --json show "$ce"
check "show --json: C1 and bidi escaped, invalid UTF-8 replaced" \
    is "$(jq -j .subject <<<"$OUT" | od -An -tx1 | tr -d ' \n')" \
    "$(printf 'a\xc2\x9b31mB\xef\xbf\xbd\xef\xbf\xbdC\x1b[2JD\xe2\x80\xaeE\\F\xc3\xa9' | od -An -tx1 | tr -d ' \n')"
check "show --json: no raw C1 or bidi byte" bash -c \
    '! LC_ALL=C grep -q "$(printf "\\xc2[\\x80-\\x9f]\\|\\xe2\\x80\\xae")" <<<"$1"' _ "$OUT"

junk=$(printf '\xc2\x9bjunk\x1b0123456789abcdef')
rcli SADD "esc:u:plain" "$junk" >/dev/null
rcli HSET "esc:s:$junk" sub plain cre 1 abs 4000000000 last 1 >/dev/null
rcli EXPIRE "esc:s:$junk" 600 >/dev/null
expect 0 "list: a hostile index member" "${R[@]}" --prefix esc: list plain
check "list: the member escaped" has "$OUT" '\u009bjunk\x1b0123'
check "list: no raw C1 or ESC" bash -c \
    '! LC_ALL=C grep -q "$(printf "\\xc2[\\x80-\\x9f]\\|\\x1b")" <<<"$1"' _ "$OUT"


# the metadata of a login (issue 15): list shows it, revoke --id ends one

ua=$(printf 'Mozilla/5.0 \xc2\x9b31m\x1b[2J \xe2\x80\xaeX\xff')
for i in 1 2; do
    h=$(printf '%064d' "$i")
    rcli HSET "meta:s:$h" sub meta cre "$i" abs 4000000000 last "$i" \
        pid "$(printf '%016d' "$i")" ip "198.51.100.$i" ua "$ua" \
        via login >/dev/null
    rcli EXPIRE "meta:s:$h" 600 >/dev/null
    rcli SADD meta:u:meta "$h" >/dev/null
done
expect 0 "list: the metadata" "${R[@]}" --prefix meta: list meta
check "list: id, via, ip, user agent escaped" has "$(sed -n 2p <<<"$OUT")" \
    '0000000000000001  login  198.51.100.1  Mozilla/5.0 \u009b31m\x1b[2J \u202eX\xff'
check "list: no raw C1, ESC or bidi" bash -c \
    '! LC_ALL=C grep -q "$(printf "\\xc2[\\x80-\\x9f]\\|\\x1b\\|\\xe2\\x80\\xae")" <<<"$1"' _ "$OUT"
expect 0 "list --json: the metadata" "${R[@]}" --prefix meta: --json list meta
check "list --json: id ip via" \
    is "$(jq -c '[.sessions[0] | .id, .ip, .via]' <<<"$OUT")" \
    '["0000000000000001","198.51.100.1","login"]'
check "list --json: user agent escaped, invalid byte replaced" \
    is "$(jq -r '.sessions[0].user_agent' <<<"$OUT" | od -An -tx1 | tr -d ' \n')" \
    "$(printf 'Mozilla/5.0 \xc2\x9b31m\x1b[2J \xe2\x80\xaeX\xef\xbf\xbd\n' | od -An -tx1 | tr -d ' \n')"
rcli SUBSCRIBE meta:revoked > "$tmp/sub2" 2>/dev/null &
subpid=$!
sleep 0.3
expect 3 "revoke --id: unknown id" "${R[@]}" --prefix meta: revoke meta \
    --id 0123456789abcdef
expect 3 "revoke --id: another subject's" "${R[@]}" --prefix meta: revoke \
    other --id 0000000000000001
expect 1 "revoke --id: malformed" "${R[@]}" --prefix meta: revoke meta \
    --id nothex
expect 0 "revoke --id" "${R[@]}" --prefix meta: revoke meta \
    --id 0000000000000001
check "revoke --id: the record is gone" \
    is "$(rcli exists "meta:s:$(printf '%064d' 1)")" 0
check "revoke --id: the other stays" \
    is "$(rcli smembers meta:u:meta)" "$(printf '%064d' 2)"
sleep 0.3
kill "$subpid" 2>/dev/null
wait "$subpid" 2>/dev/null
check "revoke --id: published" grep -qx "$(printf '%064d' 1)" "$tmp/sub2"
expect 3 "revoke --id again" "${R[@]}" --prefix meta: revoke meta \
    --id 0000000000000001


# migrate: its arguments (the copy itself: t/172-cluster-scripts.t, on a
# real cluster)

expect 1 "migrate without --to" migrate --from "127.0.0.1:$port"
expect 1 "migrate without --from" migrate --to "cluster=127.0.0.1:$port"
check "migrate: the usage is printed" has "$ERR" "--from HOST:PORT --to cluster="
expect 1 "migrate --to a single Redis" migrate --from "127.0.0.1:$port" \
    --to "127.0.0.1:$port"
check "migrate: --to must be a cluster" has "$ERR" "--to: \"127.0.0.1:$port\" is not cluster="
expect 1 "migrate --from a cluster" migrate --from "cluster=127.0.0.1:$port" \
    --to "cluster=127.0.0.1:$port"
expect 1 "migrate --to and --redis" "${R[@]}" migrate \
    --from "127.0.0.1:$port" --to "cluster=127.0.0.1:$port"
expect 1 "--from is an option of migrate only" "${R[@]}" list alice \
    --from "127.0.0.1:$port"
expect 1 "--dry-run is an option of migrate only" "${R[@]}" list alice \
    --dry-run
expect 2 "migrate to a Redis that is not a cluster" --db 1 migrate \
    --from "127.0.0.1:$port" --to "cluster=127.0.0.1:$port"
check "migrate: the error names the cluster" has "$ERR" "redis cluster=127.0.0.1:$port"


# the wrapper

OUT=$("$root/scripts/sessionctl" --help)
check "scripts/sessionctl runs build/sessionctl" has "$OUT" "Usage:"


echo "1..$n"
echo "$passed passed, $failed failed"

[ "$failed" -eq 0 ]
