# Redis outages and slowness, acted out between requests on one nginx
# lifetime: fail closed with 503, log once per outage, recover without a
# reload; a paused Redis never blocks the worker; a client that goes away
# while Redis is slow leaves nothing worse than "info" in the log; a forged
# cookie costs no Redis command.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;

my $keys = test_keys_dir();
my $redis_dir = File::Temp::tempdir(CLEANUP => 1);
my $redis = redis_start(appendonly => 1, dir => $redis_dir);
my $rport = $redis->{port};

my $nginx = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport timeout=300ms connect_timeout=500ms;
    session_cookie sid secure=off;
    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location /open { return 200 "open\\n"; }
        location /echo { return 200 "user=[\$http_x_user_id]\\n"; }
    }
HTTP
my $port = $nginx->{port};

sub ctl {
    return sessionctl('--keys', "$keys/ring1.keys",
                      '--redis', "127.0.0.1:$rport", @_);
}

sub get {
    my ($path, $cookie, $timeout) = @_;
    my $t0 = time;
    my $r = http_request($port, "GET $path",
                         $cookie ? { Cookie => "sid=$cookie" } : {},
                         undef, $timeout);
    $r->{elapsed} = time - $t0;
    return $r;
}

sub log_since {
    my ($mark) = @_;
    my $log = SessionTest::error_log($nginx);
    return substr($log, $mark);
}

sub lookup_calls {
    my $s = redis_cli($redis, 'INFO', 'commandstats');
    my ($n) = $s =~ /cmdstat_hget:calls=(\d+)/;
    return $n // 0;
}

my $cookie = ctl('create', 'u1');
ok($cookie, 'session created');

my $r = get('/p', $cookie);
is($r->{status}, 200, 'valid session: 200');
is($r->{body}, "user=[u1]\n", 'upstream sees the subject');

# a forged cookie is rejected without a Redis command
my $before = lookup_calls();
$r = get('/p', 'k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.'
               . 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
is($r->{status}, 401, 'forged cookie: 401');
get('/p', $cookie);
is(lookup_calls() - $before, 1,
   'only the valid request ran a Redis command');

# Redis goes away: 503 at once, logged once
my $pid_before = SessionTest::nginx_pid($nginx);
my $mark = length SessionTest::error_log($nginx);
redis_stop($redis);
my @st;
for (1 .. 10) {
    my $x = get('/p', $cookie);
    push @st, $x->{status};
    ok($x->{elapsed} < 1.0, "request $_ during the outage answered in "
       . sprintf('%.3f', $x->{elapsed}) . ' s');
    sleep 0.1;
}
is_deeply(\@st, [(503) x 10], 'Redis down: every request is 503');
$r = get('/p', $cookie);
is($r->{headers}{'retry-after'}[0], '1', '503 carries Retry-After');
is(get('/open')->{status}, 200, 'unprotected location unaffected');
my $outage_log = log_since($mark);
my $n_err = () = $outage_log =~ /\[error\].*session redis .* unavailable/g;
is($n_err, 1, 'the outage is logged once, not once per request');

# Redis comes back (same port, AOF): 200 again without a reload
$redis = redis_start(port => $rport, appendonly => 1, dir => $redis_dir);
my $t0 = time;
my $ok_after;
while (time - $t0 < 5) {
    if (get('/p', $cookie)->{status} == 200) {
        $ok_after = time - $t0;
        last;
    }
    sleep 0.05;
}
ok(defined $ok_after && $ok_after < 2,
   'back to 200 within 2 s of Redis returning ('
   . (defined $ok_after ? sprintf('%.2f s', $ok_after) : 'never') . ')');
is(SessionTest::nginx_pid($nginx), $pid_before, 'no reload, same master');
like(log_since($mark), qr/\[notice\].*connection restored/,
     'the recovery is logged');

# Redis paused: the worker is not blocked
redis_cli($redis, 'CLIENT', 'PAUSE', '1500');
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
    or die "connect: $!";
print $s "GET /p HTTP/1.1\r\nHost: x\r\nCookie: sid=$cookie\r\n"
       . "Connection: close\r\n\r\n";
my $t_protected = time;
sleep 0.05;
$r = get('/open');
is($r->{status}, 200, 'unprotected location answers while Redis is paused');
ok($r->{elapsed} < 0.2,
   sprintf('... at once (%.3f s)', $r->{elapsed}));
local $/;
my $resp = <$s>;
my $waited = time - $t_protected;
like($resp, qr{^HTTP/1\.1 503}, 'protected location: 503 while paused');
ok($waited >= 0.25 && $waited < 1.2,
   sprintf('... after the 300 ms timeout (%.3f s)', $waited));
close $s;
sleep 1.6;
is(get('/p', $cookie)->{status}, 200, '200 again after the pause');

# a client that disconnects while Redis is slow
$mark = length SessionTest::error_log($nginx);
redis_cli($redis, 'CLIENT', 'PAUSE', '200');
$s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
    or die "connect: $!";
print $s "GET /p HTTP/1.1\r\nHost: x\r\nCookie: sid=$cookie\r\n\r\n";
sleep 0.05;
close $s;
sleep 0.6;
is(get('/p', $cookie)->{status}, 200, 'still serving after the disconnect');
my $after = log_since($mark);
unlike($after, qr/\[(warn|error|crit|alert|emerg)\]/,
       'nothing worse than info in the log');

done_testing();
