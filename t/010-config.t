# nginx -t must fail, naming the file and the line, for every bad key file
# and every bad directive value; a good configuration must start.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest ();

$ENV{TEST_NGINX_KEYS} = SessionTest::test_keys_dir();
$ENV{TEST_NGINX_REDIS_PORT} ||= 6379;

# A block that must fail at start-up and has no server to configure
# leaves out "--- config" (it gets an empty one); "--- key_file: NAME"
# is an http_config of just "session_keys t/keys/NAME.keys".
push @Test::Nginx::Socket::PreprocessorSections, 'key_file';
add_block_preprocessor(sub {
    my $block = shift;
    if (defined(my $name = $block->key_file)) {
        die "--- key_file and --- http_config together\n"
            if defined $block->http_config;
        chomp $name;
        $block->set_value(http_config =>
                          "    session_keys \$TEST_NGINX_KEYS/$name.keys;\n");
    }
    $block->set_value(config => '')
        if defined $block->must_die && !defined $block->config;
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a good configuration starts
--- http_config
    session_keys $TEST_NGINX_KEYS/ring2.keys;
    session_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=0 prefix=t: timeout=500ms connect_timeout=1s;
    session_cookie sid path=/ samesite=strict secure=on httponly=on max_age=1h;
    session_timeout idle=10m absolute=1h touch=30s;
--- config
    location /t { session_required on; return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[warn]
[error]



=== TEST 2: missing key file
--- key_file: no-such
--- must_die
--- error_log eval
qr{"session_keys" cannot open ".*/no-such\.keys".*in .*nginx\.conf:\d+}



=== TEST 3: key file with no key
--- key_file: bad-empty
--- must_die
--- error_log eval
qr{"session_keys" file ".*/bad-empty\.keys": no key found}



=== TEST 4: duplicate key id, with its line
--- key_file: bad-dupkid
--- must_die
--- error_log eval
qr{"session_keys" file ".*/bad-dupkid\.keys" line 2: duplicate key id "k1"}



=== TEST 5: short secret, with its line
--- key_file: bad-short
--- must_die
--- error_log eval
qr{"session_keys" file ".*/bad-short\.keys" line 1: secret is 16 bytes, at least 32 are required}



=== TEST 6: malformed line
--- key_file: bad-malformed
--- must_die
--- error_log eval
qr{"session_keys" file ".*/bad-malformed\.keys" line 2: }



=== TEST 7: bad base64
--- key_file: bad-base64
--- must_die
--- error_log eval
qr{"session_keys" file ".*/bad-base64\.keys" line 1: invalid base64}



=== TEST 8: session_required without session_keys
--- http_config
    session_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /t { session_required on; }
--- must_die
--- error_log eval
qr{"session_required", "session_issue" and "session_logout" need "session_keys" in the http block in .*nginx\.conf:\d+}



=== TEST 9: session_required without session_redis
--- http_config
    session_keys $TEST_NGINX_KEYS/ring1.keys;
--- config
    location /t { session_required on; }
--- must_die
--- error_log
"session_logout" need "session_redis" in the http block



=== TEST 10: samesite=none without secure
--- http_config
    session_cookie sid samesite=none secure=off;
--- must_die
--- error_log eval
qr{"session_cookie": "samesite=none" requires "secure=on" in .*nginx\.conf:\d+}



=== TEST 11: __Host- cookie with a domain
--- http_config
    session_cookie __Host-sid domain=example.com;
--- must_die
--- error_log
a "__Host-" cookie cannot have "domain="



=== TEST 12: __Host- cookie with a path
--- http_config
    session_cookie __Host-sid path=/app;
--- must_die
--- error_log
its path must be "/"



=== TEST 13: without a resolver, a session_redis name that does not resolve at load is refused
--- http_config
    session_redis redis.invalid:6379;
--- must_die
--- error_log
"session_redis" host "redis.invalid" not found



=== TEST 14: bad session_redis port
--- http_config
    session_redis 127.0.0.1:99999;
--- must_die
--- error_log
invalid "session_redis" address "127.0.0.1:99999"



=== TEST 15: unknown session_redis parameter
--- http_config
    session_redis 127.0.0.1:6379 color=blue;
--- must_die
--- error_log
invalid "session_redis" parameter "color=blue"



=== TEST 16: bad session_required value
--- config
    location /t { session_required maybe; }
--- must_die
--- error_log eval
qr{invalid value "maybe" in .*nginx\.conf:\d+}



=== TEST 17: bad cookie name
--- http_config
    session_cookie "s;id";
--- must_die
--- error_log
invalid "session_cookie" name "s;id"



=== TEST 18: touch not shorter than idle
--- http_config
    session_timeout idle=1m touch=2m;
--- must_die
--- error_log
"session_timeout": "touch" must be shorter than "idle"



=== TEST 19: session_keys outside http
--- config
    location /t { session_keys /etc/passwd; }
--- must_die
--- error_log
"session_keys" directive is not allowed here



=== TEST 20: missing password file
--- http_config
    session_redis 127.0.0.1:6379 password_file=/nonexistent/redis.pass;
--- must_die
--- error_log
"session_redis" cannot open password file "/nonexistent/redis.pass"
