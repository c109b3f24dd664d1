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

# "--- protected" holds the access-control lines of "location /t", which
# passes the session's subject to /ok ("ok SUBJECT"); /auth and /authz are
# an auth_request check that refuses the subject "blocked".  Together
# they are the block's config.
push @Test::Nginx::Socket::PreprocessorSections, 'protected';
add_block_preprocessor(sub {
    my $block = shift;
    if (defined(my $protected = $block->protected)) {
        die "--- protected and --- config together\n" if defined $block->config;
        $protected =~ s/^[ \t]*/        /mg;
        $block->set_value('config', <<"CONF");
    location /t {
$protected        proxy_set_header X-User-Id \$session_user;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /ok { return 200 "ok \$http_x_user_id\\n"; }
    location = /auth {
        internal;
        proxy_set_header X-User-Id \$session_user;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/authz;
    }
    location = /authz {
        if (\$http_x_user_id = "blocked") { return 403; }
        return 204;
    }
CONF
    }
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
--- protected
satisfy any;
allow 127.0.0.1;
deny all;
session_required on;
--- request
GET /t
--- response_body
ok 



=== TEST 2: satisfy any: a session passes from a denied address
--- protected
satisfy any;
deny all;
session_required on;
--- request
GET /t
--- more_headers eval
"Cookie: sid=" . main::cookie('any')
--- response_body
ok any



=== TEST 3: satisfy any: neither a session nor an allowed address is 401, as with auth_basic
--- protected
satisfy any;
deny all;
session_required on;
--- request
GET /t
--- error_code: 401



=== TEST 4: satisfy all: a session does not open a denied address
--- protected
deny all;
session_required on;
--- request
GET /t
--- more_headers eval
"Cookie: sid=" . main::cookie('all')
--- error_code: 403



=== TEST 5: auth_request runs after the session check and sees the user
--- protected
session_required on;
auth_request /auth;
--- request
GET /t
--- more_headers eval
"Cookie: sid=" . main::cookie('blocked')
--- error_code: 403



=== TEST 6: auth_request allows a user it accepts
--- protected
session_required on;
auth_request /auth;
--- request
GET /t
--- more_headers eval
"Cookie: sid=" . main::cookie('welcome')
--- response_body
ok welcome



=== TEST 7: limit_req (preaccess) applies before the session check
--- protected
limit_req zone=one;
limit_req_status 429;
session_required on;
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
