# Clocks (issue 16 item 5): edges sharing one store have clocks seconds
# apart, and a clock may step back.  A record whose "last" is ahead of this
# node's clock is still touched (else Redis's TTL runs out under a busy
# session), and one whose "last" is somewhat behind is not removed as idle
# while Redis's TTL still holds it.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Time::HiRes qw(sleep time);
use File::Temp qw(tempdir);

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};

my $nginx = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport prefix=t135:;
    session_cookie sid secure=off;
    session_timeout idle=4s absolute=1h touch=1s;

    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /ok { return 200 "ok\\n"; }
    }
HTTP
my $port = $nginx->{port};

sub session {
    my ($c, $rc) = sessionctl('--keys', "$keys/ring1.keys",
                              '--redis', "127.0.0.1:$rport",
                              '--prefix', 't135:', 'create', 'clock',
                              '--idle', '4s', '--absolute', '1h');
    die "sessionctl create failed\n" if $rc || $c eq '';
    my @k = grep { /^t135:s:/ } split /\n/, redis_cli($redis, 'KEYS', 't135:s:*');
    die "expected one record, got @k\n" unless @k == 1;
    return ($c, $k[0]);
}

# --- "last" an hour ahead: requests every second outlive the idle timeout
my ($c, $key) = session();
redis_cli($redis, 'HSET', $key, 'last', int(time) + 3600);
relk($redis, $key);
my @st;
my $t0 = time;
while (time - $t0 < 8) {
    push @st, http_request($port, 'GET /p', { Cookie => "sid=$c" })->{status};
    sleep 1;
}
is_deeply([grep { $_ != 200 } @st], [],
          'last ahead of the clock: every request over 2 idle periods is 200 ('
          . join(' ', @st) . ')');
cmp_ok(redis_cli($redis, 'HGET', $key, 'last'), '<=', int(time) + 1,
       'the touch brought "last" back to this clock');
my @lk = unpack_lk(redis_cli($redis, 'HGET', $key, 'lk'));
is($lk[3], redis_cli($redis, 'HGET', $key, 'last'),
   '... and rewrote "lk" with it');
redis_cli($redis, 'DEL', $key);

# --- "last" behind (a writer whose clock runs 6 s slow): not removed as
# idle while Redis's TTL holds it
($c, $key) = session();
redis_cli($redis, 'HSET', $key, 'last', int(time) - 6);
relk($redis, $key);
is(http_request($port, 'GET /p', { Cookie => "sid=$c" })->{status}, 200,
   'last behind by more than idle, TTL alive: 200');
is(redis_cli($redis, 'EXISTS', $key), 1, 'and the record is kept');
cmp_ok(redis_cli($redis, 'TTL', $key), '>=', 3, 'and its TTL was slid');

# --- a record with no TTL and "last" far behind is still removed
redis_cli($redis, 'PERSIST', $key);
redis_cli($redis, 'HSET', $key, 'last', int(time) - 3600);
relk($redis, $key);
is(http_request($port, 'GET /p', { Cookie => "sid=$c" })->{status}, 401,
   'a record idle far past any skew is refused');
my $gone = 0;
for (1 .. 20) { $gone = redis_cli($redis, 'EXISTS', $key) eq '0'; last if $gone; sleep 0.1 }
ok($gone, 'and removed');

# --- session_cache after this node's clock stepped back: an entry cached
# "in the future" is stale, not fresh for the length of the step.  The
# step is made with libfaketime (Debian's faketime, in scripts/deps) under
# nginx only; Redis keeps the real clock.
my $ftlib = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
SKIP: {
    skip "libfaketime is not installed ($ftlib; scripts/deps installs it)", 3
        unless -f $ftlib;
    my $ftdir = tempdir(CLEANUP => 1);
    chmod 0755, $ftdir;
    my $ft = "$ftdir/offset";
    open my $fh, '>', $ft or die $!; print $fh "+0\n"; close $fh;
    chmod 0644, $ft;
    my $n2;
    {
        local $ENV{LD_PRELOAD} = $ftlib;
        local $ENV{FAKETIME_TIMESTAMP_FILE} = $ft;
        local $ENV{FAKETIME_NO_CACHE} = 1;
        local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = 1;
        $n2 = nginx_start(main => <<'MAIN', http => <<"HTTP");
env LD_PRELOAD;
env FAKETIME_TIMESTAMP_FILE;
env FAKETIME_NO_CACHE;
env FAKETIME_DONT_FAKE_MONOTONIC;
MAIN
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport prefix=t135c:;
    session_cookie sid secure=off;
    session_cache zone=clock:1m valid=30s;
    session_timeout idle=30m absolute=12h touch=60s;

    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /ok { return 200 "ok\\n"; }
    }
HTTP
    }
    for (1 .. 50 * SessionTest::slow()) {
        my ($n) = redis_cli($redis, 'PUBSUB', 'NUMSUB', 't135c:revoked')
                  =~ /(\d+)\s*$/;
        last if $n >= 1;
        sleep 0.1;
    }
    my ($cc, $rc) = sessionctl('--keys', "$keys/ring1.keys",
                               '--redis', "127.0.0.1:$rport",
                               '--prefix', 't135c:', 'create', 'stepped');
    my @k = grep { /^t135c:s:/ }
            split /\n/, redis_cli($redis, 'KEYS', 't135c:s:*');
    is(http_request($n2->{port}, 'GET /p', { Cookie => "sid=$cc" })
           ->{status}, 200, 'cached');
    open $fh, '>', $ft or die $!; print $fh "-1h\n"; close $fh;
    sleep 1.2;
    # removed behind the cache's back (no revocation message)
    redis_cli($redis, 'DEL', $k[0]);
    is(http_request($n2->{port}, 'GET /p', { Cookie => "sid=$cc" })
           ->{status}, 401,
       'clock stepped back an hour: the cached entry is not trusted');
    open $fh, '>', $ft or die $!; print $fh "+0\n"; close $fh;
    unlike(SessionTest::error_log($n2), qr/\[(alert|crit|emerg)\]/,
           'no alert, crit or emerg');
}

done_testing();
