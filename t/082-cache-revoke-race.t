# session_cache: a lookup that Redis answered just before a revocation,
# whose reply is read after the revocation's pub/sub message (they come on
# different connections), is not put into the cache: the revoked session
# is refused from the next request on, not served from the cache for
# "valid" seconds.  A proxy in front of a real redis-server holds the
# lookup's reply back (t/lib/TamperProxy.pm, "delay:HGET:MS") while the
# revocation's message goes through.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use TamperProxy;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(sleep time);

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};
my $proxy = tamper_start($rport);
my $pport = $proxy->{port};
my $slow = SessionTest::slow();

my $nginx = nginx_start(workers => 2, http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$pport timeout=5s connect_timeout=5s;
    session_cookie sid secure=off;
    session_cache zone=sess:1m valid=30s;
    session_timeout idle=1h absolute=2h touch=30m;

    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /echo { return 200 "user=[\$http_x_user_id]\\n"; }
    }
HTTP
my $port = $nginx->{port};

sub ctl { sessionctl('--keys', "$keys/ring1.keys",
                     '--redis', "127.0.0.1:$rport", @_) }
sub get { http_request($port, "GET /p", { Cookie => "sid=$_[0]" }, undef, 10) }

my $subs = 0;
for (1 .. 100 * $slow) {
    ($subs) = redis_cli($redis, 'PUBSUB', 'NUMSUB', 'session:revoked')
              =~ /(\d+)\s*$/;
    last if $subs == 2;
    sleep 0.05;
}
is($subs, 2, 'both workers subscribed');

# a control: without a revocation, the delayed lookup is cached
my $c0 = ctl('create', 'control');
tamper_mode($proxy, 'delay:HGET:400');
is(get($c0)->{status}, 200, 'control: a slow lookup, 200');
tamper_mode($proxy, 'pass');
my $calls = sub {
    my ($n) = redis_cli($redis, 'INFO', 'commandstats')
              =~ /cmdstat_hget:calls=(\d+)/;
    return $n // 0;
};
my $before = $calls->();
my @st = map { get($c0)->{status} } 1 .. 6;
is_deeply(\@st, [(200) x 6], 'control: 200');
is($calls->() - $before, 0, 'control: served from the cache');

# the race, several times over
for my $round (1 .. 3) {
    my $c = ctl('create', "raced$round");
    tamper_mode($proxy, 'delay:HGET:1500');
    # the request: its lookup runs at Redis now, the reply is held
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect: $!";
    print $s "GET /p HTTP/1.1\r\nHost: x\r\nCookie: sid=$c\r\n"
           . "Connection: close\r\n\r\n";
    # until Redis has answered the lookup
    my $t0 = time;
    my $n0 = $calls->();
    sleep 0.3;
    # the revocation, published while the reply is held back
    ctl('revoke', $c);
    tamper_mode($proxy, 'pass');
    my $resp = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read(10)) {
        my $n = sysread $s, my $buf, 4096;
        last unless $n;
        $resp .= $buf;
    }
    close $s;
    my ($status) = $resp =~ m{^HTTP/1\.\d (\d+)};
    ok(time - $t0 > 1.0, "round $round: the lookup's reply was held back");
    is($status, 200, "round $round: the request in flight: 200 (it was "
                     . "valid when Redis answered)");
    @st = map { get($c)->{status} } 1 .. 8;
    is_deeply(\@st, [(401) x 8],
              "round $round: after the revocation: 401 on every worker, "
              . "not served from the cache");
}

done_testing();
