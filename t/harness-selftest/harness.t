# Self-test of our Test::Nginx::Socket stand-in (t/harness): small .t
# files are written to a temporary directory and run through `prove`
# with t/harness first on @INC; each must pass or fail as stated.  After
# every run nothing may be left listening on the port, and no nginx of
# that run may be left over.  Plain Test::More; prints TAP.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(SIGQUIT SIGKILL);
use Test::More;
use Time::HiRes qw(sleep time);

my $root    = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $harness = "$root/t/harness";
my $tmp     = tempdir('harness-selftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# the module and sessionctl for the readiness case below
my $module = $ENV{TEST_NGINX_LOAD_MODULES}
             || "$root/build/ngx_http_session_module.so";
my $sessionctl = $ENV{TEST_NGINX_SESSIONCTL} || "$root/build/sessionctl";

# A clean environment: no TEST_NGINX_* knob of the caller leaks in
# (TEST_NGINX_BINARY excepted).
for my $k (keys %ENV) {
    delete $ENV{$k} if $k =~ /^TEST_NGINX_/ && $k ne 'TEST_NGINX_BINARY';
}
delete $ENV{HARNESS_ACTIVE};
delete $ENV{HARNESS_VERSION};

sub free_port {
    for (1 .. 100) {
        my $port = 20000 + int rand 30000;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => $port, Listen => 1, ReuseAddr => 1) or next;
        close $s;
        return $port;
    }
    die "no free port\n";
}

sub port_free {
    my $port = shift;
    my $s = IO::Socket::INET->new(LocalAddr => '0.0.0.0', LocalPort => $port,
                                  Listen => 1, ReuseAddr => 1) or return 0;
    close $s;
    return 1;
}

# Pids of live (non-zombie) processes whose command line mentions $str.
sub procs_with {
    my $str = shift;
    my @pids;
    opendir my $dh, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        next if $pid == $$;
        open my $in, '<', "/proc/$pid/cmdline" or next;
        my $cmd = do { local $/; <$in> } // '';
        close $in;
        next unless index($cmd, $str) >= 0;
        open my $st, '<', "/proc/$pid/stat" or next;
        my $stat = <$st> // '';
        close $st;
        push @pids, $pid unless $stat =~ /^\d+ \(.*\) Z /s;
    }
    return @pids;
}

my $seq = 0;

# Run one .t through prove.  Returns (exit code, output, port, servroot).
sub run_t {
    my ($body, %env) = @_;
    my $name = sprintf 'case%02d', ++$seq;
    my $file = "$tmp/$name.t";
    open my $out, '>', $file or die "$file: $!";
    print $out $body;
    close $out;

    my $port = free_port();
    my $servroot = "$tmp/servroot-$name";
    local $ENV{TEST_NGINX_SERVROOT} = $servroot;
    local $ENV{TEST_NGINX_SERVER_PORT} = $port;
    local @ENV{keys %env} = values %env;
    my $output = `cd '$tmp' && prove -v -I '$harness' $name.t 2>&1`;
    my $rc = $? >> 8;
    return ($rc, $output, $port, $servroot);
}

# Nothing of the run may be left: no listener, no nginx process.
sub check_clean {
    my ($desc, $port, $servroot) = @_;
    my $deadline = time + 3;
    sleep 0.05 until port_free($port) || time > $deadline;
    ok(port_free($port), "$desc: nothing listens on port $port afterwards");
    my @left = procs_with($servroot);
    ok(!@left, "$desc: no nginx process left") or diag "left: @left";
}

sub expect {
    my ($want, $desc, $body, %opt) = @_;
    my ($rc, $output, $port, $servroot) = run_t($body, %{ $opt{env} || {} });
    my $ok = $want eq 'pass' ? $rc == 0 : $rc != 0;
    ok($ok, "$desc: prove says " . ($want eq 'pass' ? 'PASS' : 'FAIL'))
        or diag $output;
    if ($opt{like}) {
        like($output, $opt{like}, "$desc: output names the reason")
            or diag $output;
    }
    check_clean($desc, $port, $servroot) unless $opt{no_clean_check};
    return ($output, $port, $servroot);
}

sub t_file {
    my ($blocks, $head) = @_;
    $head //= "use Test::Nginx::Socket 'no_plan';\nno_shuffle();\nrun_tests();\n";
    return "$head\n__DATA__\n\n$blocks";
}

my $ok_block = <<'_EOT_';
=== TEST 1: fine
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
_EOT_

# (e) a passing block passes, with an exact plan of 3 subtests per block
# per repetition (the count the real Test::Nginx makes).
expect(pass => 'passing block, exact plan',
    t_file($ok_block, <<'_EOH_'));
use Test::Nginx::Socket;
repeat_each(2);
plan tests => repeat_each() * (3 * blocks());
run_tests();
_EOH_

# (a) a section the harness does not implement fails the block.
expect(fail => 'unimplemented section',
    t_file($ok_block . "--- response_body_json\n{}\n"),
    like => qr/section "--- response_body_json" is not implemented/);

# ... unless a block preprocessor declares and consumes it.
expect(pass => 'preprocessor section declared',
    t_file(<<'_EOT_', <<'_EOH_'));
=== TEST 1: custom section turned into config
--- my_location: /t
--- request
GET /t
--- response_body
ok
_EOT_
use Test::Nginx::Socket 'no_plan';
push @Test::Nginx::Socket::PreprocessorSections, 'my_location';
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(config => "location " . $block->my_location
                                . " { return 200 \"ok\\n\"; }");
});
run_tests();
_EOH_

# A preprocessor sees the block through Test::Base's accessors (name,
# config, http_config, request) and fills in sections with set_value();
# the most recently added one runs first, as in Test::Nginx.  What it
# sets is checked like a section written in the block.
my $accessor_head = <<'_EOH_';
use Test::Nginx::Socket 'no_plan';
my @order;
add_block_preprocessor(sub {
    my $block = shift;
    push @order, 'first added';
    die "runs in the wrong order: @order\n"
        unless "@order" eq 'second added first added';
    die "no name\n" unless $block->name =~ /TEST 1: accessors$/;
    die "request: " . $block->request . "\n"
        unless $block->request eq "GET /t\n";
    die "http_config already set\n" if defined $block->http_config;
    return unless $block->config =~ /\$x/;
    $block->set_value(http_config =>
                      "map \$uri \$x { default from-preprocessor; }");
    $block->set_value(response_body => "__BODY__\n");
});
add_block_preprocessor(sub { @order = ('second added') });
no_shuffle();
run_tests();
_EOH_
my $accessor_block = <<'_EOT_';
=== TEST 1: accessors
--- config
    location /t { return 200 "$x\n"; }
--- request
GET /t
_EOT_
(my $h = $accessor_head) =~ s/__BODY__/from-preprocessor/;
expect(pass => 'preprocessor: accessors, set_value, order',
    t_file($accessor_block, $h));
($h = $accessor_head) =~ s/__BODY__/something else/;
expect(fail => 'preprocessor: a section it sets is checked',
    t_file($accessor_block, $h),
    like => qr/not ok \d+ .*TEST 1: accessors - response_body/);
($h = $accessor_head) =~ s/\$block->set_value\(response_body => "__BODY__\\n"\);/\$block->set_value(response_body_json => "{}");/;
expect(fail => 'preprocessor: a section it sets must be implemented',
    t_file($accessor_block, $h),
    like => qr/section "--- response_body_json" is not implemented/);

# (b) a wrong status code fails.
expect(fail => 'wrong error_code',
    t_file($ok_block . "--- error_code: 201\n"),
    like => qr/not ok \d+ - \S+ TEST 1: fine - status code ok/);

# The default expected status is 200.
expect(fail => 'default error_code 200',
    t_file(<<'_EOT_'), like => qr/status code ok/);
=== TEST 1: 404 without --- error_code
--- config
--- request
GET /nope
--- response_body_like: Not Found
_EOT_

# (c) a wrong response body fails.
expect(fail => 'wrong response_body',
    t_file(<<'_EOT_'), like => qr/not ok \d+ .*response_body/);
=== TEST 1: body
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ko
_EOT_

# response_body_like is /s only, like Test::Nginx: ^ and $ do not
# match at inner line breaks.
expect(fail => 'response_body_like has no /m',
    t_file(<<'_EOT_'), like => qr/response_body_like/);
=== TEST 1: like
--- config
    location /t { return 200 "a\nb\n"; }
--- request
GET /t
--- response_body_like: ^b$
_EOT_

# (d) an error_log expectation not met fails.
expect(fail => 'error_log not found',
    t_file($ok_block . "--- error_log\nthis line is never logged\n"),
    like => qr/pattern "this line is never logged" should match a line/);

# no_error_log that does match fails.
expect(fail => 'no_error_log matched',
    t_file(<<'_EOT_'), like => qr/should not match any line/);
=== TEST 1: 404 logs an error
--- config
--- request
GET /nope
--- error_code: 404
--- no_error_log
[error]
_EOT_

# (f) must_die: a broken config passes, a good one fails.
expect(pass => 'must_die with a broken config',
    t_file(<<'_EOT_'));
=== TEST 1: bad directive
--- config
    location /t { no_such_directive on; }
--- must_die
--- error_log
unknown directive "no_such_directive"
_EOT_

expect(fail => 'must_die with a good config',
    t_file(<<'_EOT_'), like => qr/die as expected/);
=== TEST 1: good config
--- config
    location /t { return 200; }
--- must_die
_EOT_

# A broken config without must_die fails and says why.
expect(fail => 'nginx cannot start',
    t_file(<<'_EOT_'), like => qr/cannot start nginx.*unknown directive/s);
=== TEST 1: bad directive
--- config
    location /t { no_such_directive on; }
--- request
GET /t
_EOT_

# response_headers: a wrong value and a header that must be absent.
expect(fail => 'response_headers value',
    t_file(<<'_EOT_'), like => qr/header X-A ok/);
=== TEST 1: header
--- config
    location /t { add_header X-A 1; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
X-A: 2
_EOT_

expect(fail => 'response_headers absent',
    t_file(<<'_EOT_'), like => qr/header X-A not present/);
=== TEST 1: header
--- config
    location /t { add_header X-A 1; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
!X-A
_EOT_

# more_headers (eval) reaches nginx; response_headers(_like) see it.
expect(pass => 'more_headers eval and headers',
    t_file(<<'_EOT_'));
=== TEST 1: echo a header
--- config
    location /h { add_header X-Got "got-$http_x_foo"; return 200 "x=$http_x_foo\n"; }
--- request
GET /h
--- more_headers eval
"X-Foo: bar\nX-Other: 1"
--- response_headers_like
X-Got: got-b.r
Content-Type: text/.*
--- response_body
x=bar
_EOT_

# A timeout is a failure, unless --- abort.
my $hang = <<'_EOT_';
=== TEST 1: incomplete request headers make nginx wait
--- config
    location /t { return 200; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 300ms
--- ignore_response
--- no_error_log
[alert]
_EOT_
expect(fail => 'timeout', t_file($hang),
       like => qr/client socket timed out/);
expect(pass => 'timeout with abort', t_file("$hang--- abort\n"));

# $TEST_NGINX_* in config: expanded; an undefined one fails.
expect(pass => 'env expansion', t_file(<<'_EOT_', <<'_EOH_'));
=== TEST 1: env
--- config
    location /t { return 200 "$TEST_NGINX_GREETING on $TEST_NGINX_SERVER_PORT\n"; }
--- request
GET /t
--- response_body_like: ^hi on \d+$
_EOT_
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_GREETING} = 'hi';
run_tests();
_EOH_

expect(fail => 'undefined env variable',
    t_file(<<'_EOT_'), like => qr/TEST_NGINX_NOT_SET_ANYWHERE/);
=== TEST 1: env
--- config
    location /t { return 200 "$TEST_NGINX_NOT_SET_ANYWHERE"; }
--- request
GET /t
_EOT_

# An eval section whose Perl dies fails (Test::Base alone would use the
# error text as the value).
expect(fail => 'eval section error',
    t_file(<<'_EOT_'), like => qr/eval of section code .* failed/);
=== TEST 1: bad eval
--- config
    location /t { return 200 "ok\n"; }
--- request eval
"GET /t" . ;
--- response_body
ok
_EOT_

# Sections Test::Nginx would silently ignore in combination fail.
expect(fail => 'conflicting sections',
    t_file($ok_block . "--- response_body_like: ok\n"),
    like => qr/cannot be combined/);

# Several requests need array expectations.
expect(fail => 'scalar expectation for several requests',
    t_file(<<'_EOT_'), like => qr/expectations must be ARRAYs/);
=== TEST 1: two requests
--- config
    location /t { return 200 "ok\n"; }
--- request eval
["GET /t", "GET /t"]
--- response_body
ok
_EOT_

# Several requests, pipelined requests, packets, user_files, init,
# a block reusing the previous block's nginx, shutdown_error_log,
# grep_error_log, access_log, skip_eval, todo and master_on.
expect(pass => 'assorted features', t_file(<<'_EOT_', <<'_EOH_'));
=== TEST 1: several requests with per-request headers
--- config
    location /a { return 200 "a=$http_x_n\n"; }
--- request eval
["GET /a", "GET /a"]
--- more_headers eval
["X-N: 1", "X-N: 2"]
--- response_body eval
["a=1\n", "a=2\n"]
--- error_log eval
[qr/http finalize request: \d+/]

=== TEST 2: pipelined
--- config
    location /a { return 200 "a\n"; }
    location /b { return 201 "b\n"; }
--- pipelined_requests eval
["GET /a", "GET /b", "GET /a"]
--- error_code eval
[200, 201, 200]
--- response_body eval
["a\n", "b\n", "a\n"]

=== TEST 3: body sent in two packets; Content-Length of the stripped body
--- config
    location /p { return 200 "len=$http_content_length\n"; }
--- request eval
[["POST /p\n  hel", {value => "lo  \n", delay_before => 0.05}]]
--- response_body
len=5

=== TEST 4: user_files, init
--- config
    location /f { root $TEST_NGINX_SERVER_ROOT/html; }
--- user_files
>>> f/a.txt
file A
--- init
$main::INIT_DONE = 1;
--- request
GET /f/a.txt
--- response_body
file A

=== TEST 5: no config: the previous nginx is reused
--- request
GET /f/a.txt
--- response_body
file A
--- grep_error_log eval
qr/http uri: "[^"]+"/
--- grep_error_log_out
http uri: "/f/a.txt"
http uri: "/f/a.txt"
--- access_log
GET /f/a.txt
--- shutdown_error_log
gracefully shutting down

=== TEST 6: skipped
--- config
    location /t { return 500; }
--- skip_eval: 1: $main::INIT_DONE
--- request
GET /t

=== TEST 7: todo
--- config
    location /t { return 500; }
--- todo: 1: not done yet
--- request
GET /t
_EOT_
use Test::Nginx::Socket;
plan tests => 23;
master_on();
workers(2);
no_shuffle();
run_tests();
_EOH_

# --- ONLY runs that block alone (here the passing one).
expect(pass => 'ONLY', t_file(<<'_EOT_'), like => qr/I found ONLY/);
=== TEST 1: would fail
--- config
    location /t { return 500; }
--- request
GET /t

=== TEST 2: only this one
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- ONLY
_EOT_

# TEST_NGINX_NO_CLEAN leaves nginx running after the last block (we stop
# it here).
{
    my ($output, $port, $servroot) = expect(pass => 'TEST_NGINX_NO_CLEAN',
        t_file($ok_block), env => { TEST_NGINX_NO_CLEAN => 1 },
        no_clean_check => 1);
    ok(!port_free($port), 'TEST_NGINX_NO_CLEAN: nginx still listens');
    my $pid;
    if (open my $in, '<', "$servroot/logs/nginx.pid") {
        $pid = <$in>;
        close $in;
        chomp $pid if defined $pid;
    }
    ok($pid && kill(0, $pid), 'TEST_NGINX_NO_CLEAN: pid file names a live nginx');
    if ($pid) {
        kill SIGQUIT, $pid;
        my $deadline = time + 5;
        sleep 0.05 while kill(0, $pid) && procs_with($servroot) && time < $deadline;
        kill SIGKILL, $pid if procs_with($servroot);
    }
    check_clean('TEST_NGINX_NO_CLEAN (after stopping it)', $port, $servroot);
}

# Valgrind mode (when valgrind is installed): stock nginx is clean.
SKIP: {
    skip 'valgrind is not installed', 4
        unless grep { -x "$_/valgrind" } split /:/, $ENV{PATH};
    expect(pass => 'TEST_NGINX_USE_VALGRIND', t_file($ok_block),
           env => { TEST_NGINX_USE_VALGRIND => 1 });
}

# Readiness: a block's requests start only once nginx's link to Redis is
# up (t/lib/NginxReady.pm), however long its first connection takes.
# Redis sits behind a proxy holding nginx's connections for 1.5 s, longer
# than connect_timeout (as a worker under valgrind is slow to reach it):
# without the wait, the request right after the start answers 503.
SKIP: {
    skip 'no built module or sessionctl, or no redis-server', 4
        unless -f $module && -x $sessionctl
               && grep { -x "$_/redis-server" } split /:/, $ENV{PATH};
    require lib;
    lib->import("$root/t/lib");
    require SessionTest;
    my $redis = SessionTest::redis_start();
    my $proxy = SessionTest::delay_proxy(port => $redis->{port}, hold => 1.5);
    my $cookie = `'$sessionctl' --keys '$root/t/keys/ring1.keys' --redis 127.0.0.1:$redis->{port} --prefix selftest: create u1`;
    chomp $cookie;
    my $blocks = <<'_EOT_';
=== TEST 1: the first request after the start finds Redis linked
--- http_config
    session_keys $TEST_NGINX_KEYS_FILE;
    session_redis 127.0.0.1:$TEST_NGINX_PROXY_PORT prefix=selftest: timeout=1s connect_timeout=300ms;
    session_cookie sid secure=off;
--- config
    location /p {
        session_required on;
        proxy_set_header X-User-Id $session_user;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo { return 200 "user=[$http_x_user_id]\n"; }
--- request
GET /p
--- more_headers eval
"Cookie: sid=$ENV{TEST_NGINX_COOKIE}"
--- response_body
user=[u1]
--- error_log
connect timed out
session: redis link up
_EOT_
    my %env = (TEST_NGINX_LOAD_MODULES => $module,
               TEST_NGINX_KEYS_FILE => "$root/t/keys/ring1.keys",
               TEST_NGINX_PROXY_PORT => $proxy->{port},
               TEST_NGINX_COOKIE => $cookie);
    expect(pass => 'readiness: Redis slow to link', t_file($blocks),
           env => \%env);
}

done_testing();
