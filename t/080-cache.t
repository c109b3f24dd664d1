# The shared-memory cache: hits cost no Redis command, a logout or a
# revocation takes effect on every worker at once through the pub/sub
# channel, a deletion that bypasses the channel within "valid" at most,
# idle-timeout touches keep reaching Redis.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Time::HiRes qw(time sleep);

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};

# an nginx with the cache: its workers, key ring and "session_cache" and
# "session_timeout" parameters
sub cache_nginx {
    my ($workers, $ring, $cache, $timeout) = @_;
    return nginx_start(workers => $workers, http => <<"HTTP");
    session_keys $keys/$ring;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;
    session_cache $cache;
    session_timeout $timeout;

    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /logout { session_logout; }
        location = /echo { return 200 "user=[\$http_x_user_id]\\n"; }
    }
HTTP
}

my $nginx = cache_nginx(2, 'ring1.keys', 'zone=sess:1m valid=3s',
                        'idle=3s absolute=1h touch=1s');
my $port = $nginx->{port};

sub ctl { sessionctl('--keys', "$keys/ring1.keys",
                     '--redis', "127.0.0.1:$rport", @_) }
sub get { http_request($port, "GET $_[0]", { Cookie => "sid=$_[1]" }) }
sub lookups {
    my ($n) = redis_cli($redis, 'INFO', 'commandstats')
              =~ /cmdstat_hget:calls=(\d+)/;
    return $n // 0;
}

# wait for both workers' subscriptions
my $subs = 0;
for (1 .. 50) {
    ($subs) = redis_cli($redis, 'PUBSUB', 'NUMSUB', 'session:revoked')
              =~ /(\d+)\s*$/;
    last if $subs >= 2;
    sleep 0.1;
}
is($subs, 2, 'each worker subscribed to the revocation channel');

my $c = ctl('create', 'cached');
is(get('/p', $c)->{body}, "user=[cached]\n", 'first request: from Redis');
my $before = lookups();
my @st = map { get('/p', $c)->{status} } 1 .. 20;
is_deeply(\@st, [(200) x 20], '20 more requests: 200');
my $used = lookups() - $before;
ok($used <= 1, "... served from the shared cache ($used Redis commands)");

# revocation through sessionctl (publishes): immediate on every worker
ctl('revoke', $c);
sleep 0.05;
@st = map { get('/p', $c)->{status} } 1 .. 20;
is_deeply(\@st, [(401) x 20], 'revoked: 401 at once on every worker');

# logout through nginx: immediate on every worker
my $c2 = ctl('create', 'leaver');
get('/p', $c2) for 1 .. 4;
is(http_request($port, 'POST /logout', { Cookie => "sid=$c2" })->{status},
   204, 'logout: 204');
@st = parallel_requests($port, 20, 'GET /p', { Cookie => "sid=$c2" });
is_deeply(\@st, [(401) x 20], 'after logout: 401 on every worker');

# a deletion that bypasses the channel: gone within "valid" at most
my $c3 = ctl('create', 'sneaky');
get('/p', $c3);
my $keys_out = redis_cli($redis, 'KEYS', 'session:s:*');
for my $k (split /\n/, $keys_out) {
    my $sub = redis_cli($redis, 'HGET', $k, 'sub');
    redis_cli($redis, 'DEL', $k) if $sub eq 'sneaky';
}
my $t0 = time;
my $gone;
while (time - $t0 < 5) {
    if (get('/p', $c3)->{status} == 401) { $gone = time - $t0; last }
    sleep 0.1;
}
ok(defined $gone && $gone <= 3.2,
   'deleted behind the cache\'s back: rejected within valid=3s ('
   . (defined $gone ? sprintf('%.1f s', $gone) : 'never') . ')');

# idle touches keep working: a used session outlives idle=3s
my $c4 = ctl('create', 'busy', '--idle', '3s');
my $bad = 0;
$t0 = time;
while (time - $t0 < 6) {
    $bad++ if get('/p', $c4)->{status} != 200;
    sleep 0.25;
}
is($bad, 0, 'with the cache on, a used session slides past idle=3s');
my $c5 = ctl('create', 'idle', '--idle', '3s');
get('/p', $c5);
sleep 4;
is(get('/p', $c5)->{status}, 401, 'an unused one expires');

# the cache finds an entry by the cookie's MAC: after a key rotation one
# session has two cookies (the old key's and the one re-issued with the
# new key), hence two entries, and a revocation must drop both (one
# worker: with two, each would drop one on the same message)
my $rot = cache_nginx(1, 'ring2.keys', 'zone=rot:1m valid=30s',
                      'idle=1h absolute=1h');
for (1 .. 50) {
    my ($n) = redis_cli($redis, 'PUBSUB', 'NUMSUB', 'session:revoked')
              =~ /(\d+)\s*$/;
    last if $n >= 3;
    sleep 0.1;
}
my $old = ctl('create', 'rotated');
my $r = http_request($rot->{port}, 'GET /p', { Cookie => "sid=$old" });
my $new = SessionTest::set_cookie($r, 'sid');
ok($r->{status} == 200 && $new && $new =~ /^k2\./,
   'rotation: the k1 cookie is served and re-issued under k2');
my @both;
for (1 .. 10) {
    for my $ck ($old, $new) {
        push @both, http_request($rot->{port}, 'GET /p',
                                 { Cookie => "sid=$ck" })->{status};
    }
}
$before = lookups();
for (1 .. 10) {
    for my $ck ($old, $new) {
        push @both, http_request($rot->{port}, 'GET /p',
                                 { Cookie => "sid=$ck" })->{status};
    }
}
is_deeply(\@both, [(200) x 40], 'both cookies of the session: 200');
$used = lookups() - $before;
ok($used == 0, "... both from the cache ($used Redis commands)");
ctl('revoke', $old);
sleep 0.05;
@st = ();
for (1 .. 10) {
    for my $ck ($old, $new) {
        push @st, http_request($rot->{port}, 'GET /p',
                               { Cookie => "sid=$ck" })->{status};
    }
}
is_deeply(\@st, [(401) x 20],
          'revoked: both cookies 401 at once (valid=30s not waited for)');

for my $n ($nginx, $rot) {
    unlike(SessionTest::error_log($n), qr/\[(alert|crit|emerg)\]/,
           'no alert, crit or emerg in the error log');
}

# --- a full zone is said once, at warn, and counted (issue 16 item 6):
# 8 pages, sessions with 3.9 kB of claims (two pages an entry)
my $small = nginx_start(workers => 1, http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;
    session_cache zone=small:32k valid=30s;

    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /echo { return 200 "ok\\n"; }
        location = /metrics { session_metrics; }
    }
HTTP
for (1 .. 50) {
    my ($n) = redis_cli($redis, 'PUBSUB', 'NUMSUB', 'session:revoked')
              =~ /(\d+)\s*$/;
    last if $n >= 3;
    sleep 0.1;
}
my @big = map { scalar ctl('create', "big$_", 'blob=' . ('x' x 3900)) } 1 .. 8;
my @bst;
for my $round (1 .. 2) {
    push @bst, http_request($small->{port}, 'GET /p',
                            { Cookie => "sid=$_" })->{status} for @big;
}
is_deeply(\@bst, [(200) x 16], "a full zone still serves every session") or diag(SessionTest::error_log($small));
my @full = SessionTest::error_log($small) =~ /\[warn\].*session cache zone "small" is full/g;
is(scalar @full, 1, 'a full zone is logged once, at warn');
my $mb = http_request($small->{port}, 'GET /metrics')->{body} // '';
my ($ev) = $mb =~ /^nginx_session_cache_evictions_total (\d+)/m;
my ($sf) = $mb =~ /^nginx_session_cache_store_failures_total (\d+)/m;
ok(($ev // 0) + ($sf // 0) > 0,
   'and counted: evictions ' . ($ev // 'none') . ', store failures '
   . ($sf // 'none'));

done_testing();
