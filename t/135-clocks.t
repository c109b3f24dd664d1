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
redis_cli($redis, 'DEL', $key);

# --- "last" behind (a writer whose clock runs 6 s slow): not removed as
# idle while Redis's TTL holds it
($c, $key) = session();
redis_cli($redis, 'HSET', $key, 'last', int(time) - 6);
is(http_request($port, 'GET /p', { Cookie => "sid=$c" })->{status}, 200,
   'last behind by more than idle, TTL alive: 200');
is(redis_cli($redis, 'EXISTS', $key), 1, 'and the record is kept');
cmp_ok(redis_cli($redis, 'TTL', $key), '>=', 3, 'and its TTL was slid');

# --- a record with no TTL and "last" far behind is still removed
redis_cli($redis, 'PERSIST', $key);
redis_cli($redis, 'HSET', $key, 'last', int(time) - 3600);
is(http_request($port, 'GET /p', { Cookie => "sid=$c" })->{status}, 401,
   'a record idle far past any skew is refused');
my $gone = 0;
for (1 .. 20) { $gone = redis_cli($redis, 'EXISTS', $key) eq '0'; last if $gone; sleep 0.1 }
ok($gone, 'and removed');

done_testing();
