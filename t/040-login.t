# Login hand-off and logout edge cases: Redis down during login, invalid
# subject or claims from the app, logout without a session, header
# injection through claims.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest ();

$ENV{TEST_NGINX_KEYS} = SessionTest::test_keys_dir();
$ENV{TEST_NGINX_REDIS_PORT} or die "TEST_NGINX_REDIS_PORT is not set\n";

# Every block gets this http_config unless it writes its own;
# "--- session_redis: ARGS" replaces the session_redis arguments (Redis
# down: 127.0.0.1:1).  "--- backend" is the body of "location = /backend",
# which a "location = /login" with session_issue proxies to; the two are
# the block's config.
push @Test::Nginx::Socket::PreprocessorSections, qw(session_redis backend);
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        my $redis = $block->session_redis
                    // '127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t040:';
        chomp $redis;
        $block->set_value('http_config', <<"CONF");
    session_keys \$TEST_NGINX_KEYS/ring1.keys;
    session_redis $redis;
    session_cookie sid secure=off;
CONF
    }
    if (defined(my $backend = $block->backend)) {
        die "--- backend and --- config together\n" if defined $block->config;
        $backend =~ s/^/        /mg;
        $block->set_value('config', <<"CONF");
    location = /login {
        session_issue on;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend {
$backend    }
CONF
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Redis down during login: 503 and no cookie
--- session_redis: 127.0.0.1:1 connect_timeout=200ms
--- backend
add_header X-Session-Subject 42;
return 302 /dashboard;
--- request
GET /login
--- error_code: 503
--- response_headers
!Set-Cookie
!X-Session-Subject
!Location
Retry-After: 1



=== TEST 2: a valid login sets the cookie and keeps the app's body
--- backend
add_header X-Session-Subject "user 42";
add_header X-Session-Claims "role=admin; team=a%20b";
return 200 "welcome\n";
--- request
GET /login
--- error_code: 200
--- response_body
welcome
--- response_headers_like
Set-Cookie: sid=k1\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax
--- no_error_log
[warn]
[error]



=== TEST 3: a subject with a control character is refused with 502
--- backend
add_header X-Session-Subject "a\tb";
return 200 "welcome\n";
--- request
GET /login
--- error_code: 502
--- response_headers
!Set-Cookie
--- error_log
invalid X-Session-Subject



=== TEST 4: claims that try to inject a header are refused with 502
--- backend
add_header X-Session-Subject 42;
add_header X-Session-Claims "role=admin\"; x=1";
return 200 "welcome\n";
--- request
GET /login
--- error_code: 502
--- response_headers
!Set-Cookie
--- error_log
invalid X-Session-Claims



=== TEST 5: more than 16 claims are refused
--- backend
add_header X-Session-Subject 42;
add_header X-Session-Claims "a1=1; a2=2; a3=3; a4=4; a5=5; a6=6; a7=7; a8=8; a9=9; a10=1; a11=1; a12=1; a13=1; a14=1; a15=1; a16=1; a17=1";
return 200 "welcome\n";
--- request
GET /login
--- error_code: 502
--- response_headers
!Set-Cookie



=== TEST 6: an upstream 500 with a subject mints nothing
--- backend
add_header X-Session-Subject 42 always;
return 500;
--- request
GET /login
--- error_code: 500
--- response_headers
!Set-Cookie
!X-Session-Subject



=== TEST 7: logout without a cookie: 204 and the cookie removed
--- config
    location = /logout { session_logout; }
--- request
POST /logout
--- error_code: 204
--- response_headers_like
Set-Cookie: sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax
Cache-Control: private, no-store



=== TEST 8: logout with a redirect
--- config
    location = /logout { session_logout redirect=/goodbye; }
--- request
GET /logout
--- error_code: 303
--- response_headers_like
Location: .*/goodbye



=== TEST 9: logout refuses other methods
--- config
    location = /logout { session_logout; }
--- request
DELETE /logout
--- error_code: 405



=== TEST 10: logout with Redis down: 503
--- session_redis: 127.0.0.1:1 connect_timeout=200ms
--- config
    location = /logout { session_logout; }
--- request
POST /logout
--- more_headers eval
"Cookie: sid=" . SessionTest::sessionctl('--keys', "$ENV{TEST_NGINX_KEYS}/ring1.keys", '--redis', "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}", 'create', 'x')
--- error_code: 503
--- response_headers
Retry-After: 1



=== TEST 11: a logout redirect to another host's scheme-relative URL is a config error
--- config
    location = /logout { session_logout redirect=//evil.example; }
--- must_die
--- error_log
invalid "session_logout" parameter "redirect=//evil.example"



=== TEST 12: session_require_claim with a bad name is a config error
--- config
    location /a { session_required on; session_require_claim "ro-le" admin; }
--- must_die
--- error_log
invalid claim name "ro-le" in "session_require_claim"



=== TEST 13: session_issue grace bounds
--- config
    location /a { session_issue on grace=1h; }
--- must_die
--- error_log
invalid "session_issue" parameter "grace=1h"



=== TEST 14: an invalid X-Session-Logout value is refused with 502
--- backend
add_header X-Session-Logout everything;
return 200 "x\n";
--- request
GET /login
--- error_code: 502
