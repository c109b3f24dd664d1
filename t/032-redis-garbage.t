# A Redis (or a path in between) that answers garbage never kills a
# worker (issue 11 item 7): more replies than commands (each reply twice,
# a "+OK" after each), a protocol error, a reply of the wrong type to the
# lookup, a malformed pub/sub message on the subscriber link.  The link is
# dropped with one line in the log, requests answer 503 meanwhile, and
# the module reconnects by itself once the path behaves again.  A real
# redis-server sits behind a tampering proxy (t/lib/TamperProxy.pm).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use TamperProxy;
use Time::HiRes qw(sleep time);

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};
my $proxy = tamper_start($rport);
my $pport = $proxy->{port};
my $slow = SessionTest::slow();

sub ctl { sessionctl('--keys', "$keys/ring1.keys",
                     '--redis', "127.0.0.1:$rport", @_) }

sub garbage_nginx {
    my ($cache) = @_;
    return nginx_start(workers => 1, http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$pport timeout=300ms connect_timeout=500ms;
    session_cookie sid secure=off;
$cache
    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /echo { return 200 "user=[\$http_x_user_id]\\n"; }
        location = /metrics { session_metrics; }
    }
HTTP
}

my $nginx = garbage_nginx('');
my $port = $nginx->{port};
my $c = ctl('create', 'tampered');

sub get { http_request($port, "GET $_[0]", { Cookie => "sid=$c" }) }

my $log_mark = 0;
sub log_new {
    my $all = SessionTest::error_log($nginx);
    my $new = substr($all, $log_mark);
    $log_mark = length $all;
    return $new;
}

sub crashed {
    my ($log) = @_;
    return join "\n", $log =~ /^.*(?:exited on signal|assertion).*$/mg;
}

# status of /p until $want comes (or $secs pass): the seconds it took
sub until_status {
    my ($want, $secs) = @_;
    my $t0 = time;
    while (time - $t0 < $secs) {
        return time - $t0 if get('/p')->{status} == $want;
        sleep 0.05;
    }
    return undef;
}

ok(defined until_status(200, 5 * $slow), 'through the proxy: 200');
log_new();

# each case: tamper, requests are 200 or 503 (nothing else), 503 at the
# end, one log line, no crash; then pass: 200 again
my @cases = (
    [ 'dup',               qr/more replies than commands/,
      'each reply sent twice' ],
    [ 'inject',            qr/more replies than commands/,
      'a "+OK" after each reply' ],
    [ 'protoerr:HGET',     qr/[Pp]rotocol error/,
      'a protocol error instead of the lookup\'s reply' ],
    [ 'wrongtype:HGET',    qr/lookup with a reply of the wrong type/,
      'an integer instead of the lookup\'s string' ],
);

for my $case (@cases) {
    my ($mode, $line, $name) = @$case;
    tamper_mode($proxy, $mode);
    my %seen;
    my @st;
    # 2.5 s of requests, longer (up to 2.5 s x slow, valgrind) until the
    # link is seen down
    my $t0 = time;
    while (time - $t0 < 2.5 * $slow) {
        my $s = get('/p')->{status};
        push @st, $s;
        $seen{$s}++;
        last if $s == 503 && time - $t0 >= 2.5;
        sleep 0.05;
    }
    my @other = grep { $_ != 200 && $_ != 503 } keys %seen;
    is_deeply(\@other, [], "$name: only 200 or 503 ("
              . join(',', map { "$_ x$seen{$_}" } sort keys %seen) . ")");
    is($st[-1], 503, "$name: 503 while it lasts");
    my $log = log_new();
    is(crashed($log), '', "$name: no worker crashed");
    my $n = () = $log =~ /\[error\].*session redis .*unavailable/g;
    is($n, 1, "$name: one error line for the outage ($n)");
    like($log, $line, "$name: the line says why");
    tamper_mode($proxy, 'pass');
    my $back = until_status(200, 5 * $slow);
    ok(defined $back, "$name: 200 again once Redis behaves ("
       . (defined $back ? sprintf('%.2f s', $back) : 'never') . ')');
    sleep 0.2;
    log_new();
}

SessionTest::nginx_stop($nginx);

# the subscriber link: a pub/sub message that is not an array of strings
$nginx = garbage_nginx('    session_cache zone=sess:1m valid=30s;');
$port = $nginx->{port};
$log_mark = 0;

sub subs {
    my ($n) = redis_cli($redis, 'PUBSUB', 'NUMSUB', 'session:revoked')
              =~ /(\d+)\s*$/;
    return $n // 0;
}

for (1 .. 100 * $slow) { last if subs() == 1; sleep 0.05 }
is(subs(), 1, 'cache: the worker subscribed');
is(get('/p')->{status}, 200, 'cache: 200');
log_new();

tamper_mode($proxy, 'badpush');
redis_cli($redis, 'PUBLISH', 'session:revoked', 'x' x 64);
sleep 0.5;
my @st = map { get('/p')->{status} } 1 .. 5;
is_deeply(\@st, [(200) x 5],
          'malformed pub/sub message: requests still served (cache bypassed)');
my $log = log_new();
is(crashed($log), '', 'malformed pub/sub message: no worker crashed');
like($log, qr/\[error\].*session redis subscriber .*malformed pub\/sub/,
     'malformed pub/sub message: the subscriber link is dropped, logged');

tamper_mode($proxy, 'pass');
for (1 .. 100 * $slow) { last if subs() == 1; sleep 0.05 }
is(subs(), 1, 'the subscriber is back');
ctl('revoke', $c);
sleep 0.2;
is(get('/p')->{status}, 401, 'revocations reach the cache again');

# the subscription confirmed twice (a duplicated SUBSCRIBE reply)
$c = ctl('create', 'again');
tamper_mode($proxy, 'dup:SUBSCRIBE');
log_new();
redis_cli($redis, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
sleep 1.5 * $slow;
$log = log_new();
is(crashed($log), '', 'subscription confirmed twice: no worker crashed');
unlike($log, qr/subscriber .*restored/,
       'subscription confirmed twice: the link is not taken as restored');
tamper_mode($proxy, 'pass');
for (1 .. 100 * $slow) { last if subs() == 1; sleep 0.05 }
sleep 0.5;
my $r = http_request($port, 'GET /metrics');
my ($conns) = $r->{body} =~ /^nginx_session_redis_connections (\S+)$/m;
is($conns, 2, 'the connections gauge counts each link once');

done_testing();
