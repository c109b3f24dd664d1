# session_required with the rest of nginx's access control: satisfy any and
# all, allow/deny, auth_request, limit_req, and return (which runs in the
# rewrite phase, before any access check).
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest ();

$ENV{TEST_NGINX_KEYS} = SessionTest::test_keys_dir();
$ENV{TEST_NGINX_REDIS_PORT} or die "TEST_NGINX_REDIS_PORT is not set\n";

sub main::cookie {
    my ($user) = @_;
    my $c = SessionTest::sessionctl(
        '--keys', "$ENV{TEST_NGINX_KEYS}/ring1.keys",
        '--redis', "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}",
        '--prefix', 't025:', 'create', $user);
    die "sessionctl create failed\n" if $c eq '';
    return $c;
}

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'CONF');
    session_keys $TEST_NGINX_KEYS/ring1.keys;
    session_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t025:;
    session_cookie sid secure=off;
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
CONF
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: satisfy any: an allowed address passes without a session
--- config
    location /t {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        session_required on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /ok { return 200 "ok $http_x_user_id\n"; }
--- request
GET /t
--- response_body
ok 



=== TEST 2: satisfy any: a session passes from a denied address
--- config
    location /t {
        satisfy any;
        deny all;
        session_required on;
        proxy_set_header X-User-Id $session_user;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /ok { return 200 "ok $http_x_user_id\n"; }
--- request
GET /t
--- more_headers eval
"Cookie: sid=" . main::cookie('any')
--- response_body
ok any



=== TEST 3: satisfy any: neither a session nor an allowed address is 401, as with auth_basic
--- config
    location /t {
        satisfy any;
        deny all;
        session_required on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /ok { return 200 "ok\n"; }
--- request
GET /t
--- error_code: 401



=== TEST 4: satisfy all: a session does not open a denied address
--- config
    location /t {
        deny all;
        session_required on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /ok { return 200 "ok\n"; }
--- request
GET /t
--- more_headers eval
"Cookie: sid=" . main::cookie('all')
--- error_code: 403



=== TEST 5: auth_request runs after the session check and sees the user
--- config
    location /t {
        session_required on;
        auth_request /auth;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /auth {
        internal;
        proxy_set_header X-User-Id $session_user;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/authz;
    }
    location = /authz {
        if ($http_x_user_id = "blocked") { return 403; }
        return 204;
    }
    location = /ok { return 200 "ok\n"; }
--- request
GET /t
--- more_headers eval
"Cookie: sid=" . main::cookie('blocked')
--- error_code: 403



=== TEST 6: auth_request allows a user it accepts
--- config
    location /t {
        session_required on;
        auth_request /auth;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /auth {
        internal;
        proxy_set_header X-User-Id $session_user;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/authz;
    }
    location = /authz {
        if ($http_x_user_id = "blocked") { return 403; }
        return 204;
    }
    location = /ok { return 200 "ok\n"; }
--- request
GET /t
--- more_headers eval
"Cookie: sid=" . main::cookie('welcome')
--- response_body
ok



=== TEST 7: limit_req (preaccess) applies before the session check
--- config
    location /t {
        limit_req zone=one;
        limit_req_status 429;
        session_required on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /ok { return 200 "ok\n"; }
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[401, 429]



=== TEST 8: return runs before the access phase: never protected
--- config
    location /t {
        session_required on;
        return 200 "not protected\n";
    }
--- request
GET /t
--- response_body
not protected



=== TEST 9: a static file behind session_required is protected
--- config
    location /t {
        session_required on;
        alias html/;
    }
--- user_files
>>> index.html
secret page
--- request
GET /t/index.html
--- error_code: 401
