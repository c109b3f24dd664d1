# The access phase against a real Redis: valid, missing, tampered,
# truncated, unknown-kid, revoked cookies; the login redirect; optional
# mode; trusted identity headers for the upstream; key rotation.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest ();

$ENV{TEST_NGINX_KEYS} = SessionTest::test_keys_dir();
$ENV{TEST_NGINX_REDIS_PORT} or die "TEST_NGINX_REDIS_PORT is not set\n";

# a fresh session (cookie value) created through sessionctl
sub main::cookie {
    my ($ring, @args) = @_;
    my ($c, $rc) = SessionTest::sessionctl(
        '--keys', "$ENV{TEST_NGINX_KEYS}/$ring.keys",
        '--redis', "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}",
        '--prefix', 't020:', 'create', @args);
    die "sessionctl create failed ($rc)\n" if $rc || $c eq '';
    return $c;
}

sub main::revoked_cookie {
    my $c = main::cookie('ring1', 'gone');
    my (undef, $rc) = SessionTest::sessionctl(
        '--keys', "$ENV{TEST_NGINX_KEYS}/ring1.keys",
        '--redis', "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}",
        '--prefix', 't020:', 'revoke', $c);
    die "sessionctl revoke failed ($rc)\n" if $rc;
    return $c;
}

# flips one character in the token part, the MAC part left as it is
sub main::tamper_token {
    my ($c) = @_;
    my $i = length($c) - 44 - 5;
    my $ch = substr($c, $i, 1);
    substr($c, $i, 1) = $ch eq 'A' ? 'B' : 'A';
    return $c;
}

# flips one character in the MAC part
sub main::tamper {
    my ($c) = @_;
    my $i = length($c) - 5;
    my $ch = substr($c, $i, 1);
    substr($c, $i, 1) = $ch eq 'A' ? 'B' : 'A';
    return $c;
}

# Every block gets this http_config unless it writes its own:
# "--- keys: RING" names another key file (t/keys/RING.keys) and
# "--- session_redis: ARGS" replaces the session_redis arguments (Redis
# down: 127.0.0.1:1).
push @Test::Nginx::Socket::PreprocessorSections, qw(keys session_redis);
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        my $ring = $block->keys // 'ring1';
        my $redis = $block->session_redis
                    // '127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t020:';
        chomp($ring, $redis);
        $block->set_value('http_config', <<"CONF");
    session_keys \$TEST_NGINX_KEYS/$ring.keys;
    session_redis $redis;
    session_cookie sid secure=off;
CONF
    }
    if (!defined $block->config) {
        $block->set_value('config', <<'CONF');
    location /p {
        session_required on;
        proxy_set_header X-User-Id $session_user;
        proxy_set_header X-Role $session_claim_role;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /page {
        session_required on;
        session_login_url /login?next=$session_return_to;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /opt {
        session_required optional;
        proxy_set_header X-User-Id $session_user;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "user=[$http_x_user_id] role=[$http_x_role]\n";
    }
CONF
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a valid cookie reaches the upstream with the right X-User-Id
--- request
GET /p
--- more_headers eval
"Cookie: sid=" . main::cookie('ring1', '42', 'role=admin')
--- error_code: 200
--- response_body
user=[42] role=[admin]
--- no_error_log
[warn]
[error]



=== TEST 2: a client-sent X-User-Id is replaced by the session's subject
--- request
GET /p
--- more_headers eval
"X-User-Id: 1\r\nX-Role: root\r\nCookie: sid=" . main::cookie('ring1', '43')
--- response_body
user=[43] role=[]



=== TEST 3: optional mode: a client-sent X-User-Id is removed without a session
--- request
GET /opt
--- more_headers
X-User-Id: 1
--- response_body
user=[] role=[]



=== TEST 4: no cookie is 401
--- request
GET /p
--- error_code: 401
--- no_error_log
[warn]
[error]



=== TEST 5: a tampered MAC is 401
--- request
GET /p
--- more_headers eval
"Cookie: sid=" . main::tamper(main::cookie('ring1', '44'))
--- error_code: 401
--- error_log
invalid "sid" cookie
--- no_error_log
[warn]
[error]



=== TEST 6: a truncated cookie is 401
--- request
GET /p
--- more_headers eval
"Cookie: sid=" . substr(main::cookie('ring1', '45'), 0, 60)
--- error_code: 401



=== TEST 7: a cookie from another key with the same kid is 401
--- request
GET /p
--- more_headers eval
"Cookie: sid=" . main::cookie('other', '46')
--- error_code: 401



=== TEST 8: a cookie with an unknown kid is 401
--- request
GET /p
--- more_headers eval
"Cookie: sid=" . main::cookie('k2only', '47')
--- error_code: 401



=== TEST 9: a session deleted in Redis is 401
--- request
GET /p
--- more_headers eval
"Cookie: sid=" . main::revoked_cookie()
--- error_code: 401
--- no_error_log
[warn]
[error]



=== TEST 10: a browser navigation without a session is sent to the login URL
--- request
GET /page/a?b=c&d=e
--- more_headers
Accept: text/html,application/xhtml+xml
--- error_code: 302
--- response_headers_like
Location: http://localhost(:\d+)?/login\?next=%2Fpage%2Fa%3Fb%3Dc%26d%3De



=== TEST 11: an API call gets 401 even where a login URL is set
--- request
GET /page/a
--- more_headers
Accept: application/json
--- error_code: 401



=== TEST 12: a POST is never redirected
--- request
POST /page/a
x=1
--- more_headers
Accept: text/html
--- error_code: 401



=== TEST 13: optional mode never rejects a bad cookie
--- request
GET /opt
--- more_headers
Cookie: sid=k1.garbage.garbage
--- error_code: 200
--- response_body
user=[] role=[]



=== TEST 14: optional mode sets the identity when the cookie is valid
--- request
GET /opt
--- more_headers eval
"Cookie: sid=" . main::cookie('ring1', 'opt-user')
--- response_body
user=[opt-user] role=[]



=== TEST 15: rotation: a cookie signed with the old key (second in the ring) is valid
--- keys: ring2
--- request
GET /p
--- more_headers eval
"Cookie: sid=" . main::cookie('ring1', 'rotated')
--- response_body
user=[rotated] role=[]



=== TEST 16: rotation: a cookie signed with the new first key is valid
--- keys: ring2
--- request
GET /p
--- more_headers eval
"Cookie: sid=" . main::cookie('ring2', 'new-key')
--- response_body
user=[new-key] role=[]



=== TEST 17: a forged cookie of the right shape costs no Redis round trip
Redis does not listen: a lookup would answer 503 (TEST 20), the MAC check
answers 401 before any.  (Not the debug log line "cookie rejected: bad
MAC": a module built without --with-debug writes none.)
--- session_redis: 127.0.0.1:1 connect_timeout=200ms
--- request
GET /p
--- more_headers
Cookie: sid=k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 401
--- no_error_log
[crit]



=== TEST 18: the real cookie wins over a planted one of the same name
--- request
GET /p
--- more_headers eval
"Cookie: sid=k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; sid="
. main::cookie('ring1', 'real')
--- response_body
user=[real] role=[]



=== TEST 19: the cookie in a second Cookie header line is found
--- request
GET /p
--- more_headers eval
"Cookie: a=b\r\nCookie: sid=" . main::cookie('ring1', 'second-line')
--- response_body
user=[second-line] role=[]



=== TEST 20: a Redis that does not listen gives 503 with Retry-After
--- session_redis: 127.0.0.1:1 connect_timeout=200ms
--- request
GET /p
--- more_headers eval
"Cookie: sid=" . main::cookie('ring1', '48')
--- error_code: 503
--- response_headers
Retry-After: 1



=== TEST 21: variables in the log format
--- config
    location /v {
        session_required on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/vars?st=$session_status&u=$session_user&id=$session_id&exp=$session_expires;
    }
    location /vars { return 200 "$args\n"; }
--- request
GET /v
--- more_headers eval
"Cookie: sid=" . main::cookie('ring1', 'vars')
--- response_body_like
^st=ok&u=vars&id=[0-9a-f]{16}&exp=\d{10}$



=== TEST 22: a verified cookie remembered by the worker does not vouch for its MAC with another token
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p"]
--- more_headers eval
my $c = main::cookie('ring1', 'memo');
["Cookie: sid=$c", "Cookie: sid=" . main::tamper_token($c),
 "Cookie: sid=$c", "Cookie: sid=" . main::tamper($c)]
--- error_code eval
[200, 401, 200, 401]
--- response_body_like eval
["^user=\\[memo\\] role=\\[\\]\$", "401 Authorization Required",
 "^user=\\[memo\\] role=\\[\\]\$", "401 Authorization Required"]
