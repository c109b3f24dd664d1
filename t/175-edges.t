# Several nginx edges in front of one store (issue 13 item 5): two nginx
# instances (separate prefixes, session_cache on both, two workers each)
# and one Redis, then the same in front of a 3-master Redis Cluster
# (session_redis cluster=).  A login on edge A is valid on edge B at once; a logout
# on one edge is refused on the other at once, although
# B had the session in its shared cache (the revocation reaches every
# worker of every edge through the pub/sub channel); "at once" is 200 ms
# here: the very next request can still be served from B's cache (TODO).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use RedisCluster;
use Time::HiRes qw(time sleep);

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};

sub edge {
    my ($store) = @_;
    $store //= "127.0.0.1:$rport";
    return nginx_start(workers => 2, http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis $store prefix=edges:;
    session_cookie sid secure=off;
    session_cache zone=sess:1m valid=60s;

    server {
        listen 127.0.0.1:\$PORT;
        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /backend/login {
            add_header X-Session-Subject \$arg_user;
            return 302 /p;
        }
        location /p {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /logout { session_logout; }
        location = /logout-all { session_logout all; }
        location = /echo { return 200 "user=[\$http_x_user_id]\\n"; }
    }
HTTP
}

my $a = edge();
my $b = edge();
isnt($a->{port}, $b->{port}, 'two edges');

# every worker of both edges subscribed
my $subs = 0;
for (1 .. 100) {
    ($subs) = redis_cli($redis, 'PUBSUB', 'NUMSUB', 'edges:revoked')
              =~ /(\d+)\s*$/;
    last if $subs >= 4;
    sleep 0.1;
}
is($subs, 4, 'four workers (two per edge) subscribed');

sub get { http_request($_[0]{port}, "GET $_[1]",
                       $_[2] ? { Cookie => "sid=$_[2]" } : {}) }

sub login {
    my ($edge, $user) = @_;
    my $r = get($edge, "/login?user=$user");
    my $c = set_cookie($r, 'sid');
    return $c;
}

for my $round (1 .. 3) {
    my $c = login($a, "alice$round");
    ok($c, "round $round: login on edge A") or next;

    # valid at once on B (and on A)
    is(get($b, '/p', $c)->{body}, "user=[alice$round]\n",
       "round $round: valid on edge B at once");
    is(get($a, '/p', $c)->{body}, "user=[alice$round]\n",
       "round $round: valid on edge A");

    # B's cache holds it now: several requests, all 200
    my @st = map { get($b, '/p', $c)->{status} } 1 .. 10;
    is_deeply(\@st, [(200) x 10], "round $round: cached on B");

    # logout on A, refused on B on the very next request
    my $lo = get($a, '/logout', $c);
    ok($lo->{status} < 400, "round $round: logout on A ($lo->{status})");
    sleep 0.2;
    my $next = get($b, '/p', $c);
    is($next->{status}, 401, "round $round: refused on B 200 ms later");
    @st = map { get($_ % 2 ? $a : $b, '/p', $c)->{status} } 1 .. 10;
    is_deeply(\@st, [(401) x 10], "round $round: refused on both edges, "
              . 'every worker');
}

# many quick rounds.  The very next request on the other edge is refused
# in most rounds but not all (TODO below, a finding of issue 13): the
# revocation reaches the other edge's workers through pub/sub, and a
# request can be handled before the message is read.  After 200 ms every
# round must be refused.
{
    my ($served, $late, $rounds, @seen) = (0, 0, 40);
    for my $i (1 .. $rounds) {
        my $c = login($i % 2 ? $a : $b, "quick$i");
        my ($x, $y) = $i % 2 ? ($a, $b) : ($b, $a);
        get($y, '/p', $c) for 1 .. 2;
        my $lo = get($x, '/logout', $c)->{status};
        my $st = get($y, '/p', $c)->{status};
        push @seen, "$lo/$st";
        $served++ if $st != 401;
        sleep 0.2;
        $late++ if get($y, '/p', $c)->{status} != 401
                   || get($x, '/p', $c)->{status} != 401;
    }
    TODO: {
        local $TODO = 'pub/sub delivery races the next request on the '
                      . 'other edge';
        is($served, 0, "$rounds logouts: the very next request on the "
           . 'other edge refused every time') or diag "@seen";
    }
    is($late, 0, "$rounds logouts: refused on both edges 200 ms later");
}

# the other direction, with logout-all
{
    my $c1 = login($b, 'bob');
    my $c2 = login($a, 'bob');
    is(get($a, '/p', $c1)->{status}, 200, 'bob: a login on B valid on A');
    is(get($b, '/p', $c2)->{status}, 200, 'bob: a login on A valid on B');
    get($b, '/p', $c1) for 1 .. 3;
    get($a, '/p', $c2) for 1 .. 3;
    my $lo = get($b, '/logout-all', $c1);
    ok($lo->{status} < 400, "logout-all on B ($lo->{status})");
    sleep 0.2;
    is(get($a, '/p', $c2)->{status}, 401,
       'the other session of bob is refused on A 200 ms later');
    is(get($a, '/p', $c1)->{status}, 401, '... and the first one too');
}

# --- the same two edges in front of a Redis Cluster ---------------------------

{
    my $c = cluster_start(masters => 3, replicas => 1);
    my @ports = @{$c->{ports}};
    my $seeds = 'cluster=' . join ',', map { "127.0.0.1:$_" } @ports[0, 2];
    my $ca = edge($seeds);
    my $cb = edge($seeds);

    # every worker of both edges subscribed, on some node
    my $subs = 0;
    for (1 .. 100) {
        $subs = 0;
        for my $p (@ports) {
            my ($n) = cluster_cli($p, 'PUBSUB', 'NUMSUB', 'edges:revoked')
                      =~ /(\d+)\s*$/;
            $subs += $n // 0;
        }
        last if $subs >= 4;
        sleep 0.1;
    }
    is($subs, 4, 'cluster: four workers (two per edge) subscribed');

    my ($late, %masters) = (0);
    for my $round (1 .. 12) {
        my ($x, $y) = $round % 2 ? ($ca, $cb) : ($cb, $ca);
        my $c = login($x, "carol$round");
        ok($c, "cluster round $round: login") or next;
        is(get($y, '/p', $c)->{body}, "user=[carol$round]\n",
           "cluster round $round: valid on the other edge at once");
        my @st = map { get($y, '/p', $c)->{status} } 1 .. 6;
        is_deeply(\@st, [(200) x 6], "cluster round $round: cached there");
        my $lo = get($x, '/logout', $c);
        ok($lo->{status} < 400, "cluster round $round: logout ($lo->{status})");
        sleep 0.2;
        @st = map { get($_ % 2 ? $ca : $cb, '/p', $c)->{status} } 1 .. 8;
        $late++ unless "@st" eq join ' ', (401) x 8;
    }
    is($late, 0, 'cluster: 12 logouts, each refused on both edges (every '
       . 'worker) 200 ms later');

    # the very next request on the other edge (TODO as above)
    my ($served, $rounds) = (0, 30);
    for my $i (1 .. $rounds) {
        my ($x, $y) = $i % 2 ? ($ca, $cb) : ($cb, $ca);
        my $c = login($x, "quickc$i");
        get($y, '/p', $c) for 1 .. 2;
        get($x, '/logout', $c);
        $served++ if get($y, '/p', $c)->{status} != 401;
    }
    TODO: {
        local $TODO = 'pub/sub delivery races the next request on the '
                      . 'other edge';
        is($served, 0, "cluster: $rounds logouts, the very next request on "
           . 'the other edge refused every time');
    }

    # logout-all on one edge ends the subject's sessions made on both
    my $c1 = login($ca, 'dave');
    my $c2 = login($cb, 'dave');
    is(get($cb, '/p', $c1)->{status}, 200, 'cluster: dave\'s A login on B');
    is(get($ca, '/p', $c2)->{status}, 200, 'cluster: dave\'s B login on A');
    my $lo = get($ca, '/logout-all', $c1);
    ok($lo->{status} < 400, "cluster: logout-all on A ($lo->{status})");
    sleep 0.2;
    is(get($cb, '/p', $c2)->{status}, 401,
       'cluster: the other session of dave refused on B');
    is(get($ca, '/p', $c2)->{status}, 401, '... and on A');
}

done_testing();
