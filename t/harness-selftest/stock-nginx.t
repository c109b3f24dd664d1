# A small data-driven test that needs only stock nginx: it exercises the
# harness's common paths (and runs unchanged under the real Test::Nginx).
# A random port and server root are used unless a port is given, so that
# it can run next to other test runs.
BEGIN {
    $ENV{TEST_NGINX_RANDOMIZE} = 1
        unless defined $ENV{TEST_NGINX_SERVER_PORT}
            || defined $ENV{TEST_NGINX_PORT};
}

use Test::Nginx::Socket;

repeat_each(2);

# 3 subtests per block except TEST 2 (must_die: 2), TEST 4 (4), TEST 5 (6)
# and TEST 6 (6).
plan tests => repeat_each() * (3 * blocks() - 1 + 1 + 3 + 3);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: return 200
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 2: a bad directive makes nginx die
--- config
    location /t { no_such_directive_here on; }
--- must_die
--- error_log
unknown directive "no_such_directive_here"



=== TEST 3: error_log sees the request's debug log
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t?a=1
--- response_body
ok
--- error_log
http args: "a=1"



=== TEST 4: more_headers eval reaches $http_x_foo; add_header echoes it
--- config
    location /h {
        add_header X-Got "got-$http_x_foo" always;
        return 200 "x=$http_x_foo\n";
    }
--- request
GET /h
--- more_headers eval
"X-Foo: " . CORE::join("-", "a", "b")
--- response_headers
X-Got: got-a-b
!X-Not-There
--- response_body
x=a-b



=== TEST 5: several requests, each on its own connection
--- config
    location /a { return 200 "a\n"; }
    location /len { return 201 "len=$http_content_length\n"; }
--- request eval
["GET /a", "POST /len\n  hello  \n"]
--- error_code eval
[200, 201]
--- response_body eval
["a\n", "len=5\n"]
--- no_error_log
[error]



=== TEST 6: pipelined requests on one keep-alive connection
--- config
    location /a { return 200 "a\n"; }
    location /b { return 404; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^a\n\$", "404 Not Found"]
--- no_error_log
[alert]
