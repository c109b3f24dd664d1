# Several nginx edges in front of one store (issue 13 item 5): two nginx
# instances (separate prefixes, session_cache on both, two workers each)
# and one Redis, then the same in front of a 3-master Redis Cluster
# (session_redis cluster=).  A login on edge A is valid on edge B at once;
# on one Redis, a logout on one edge is refused on the other on the very
# next request, although B had the session in its shared cache: the
# revocation reaches every worker of every edge through the pub/sub
# channel; the logout is answered only once Redis has written the message
# to every subscriber (a PING after the revoke script), and a worker about
# to serve a cached session first reads the revocation messages already
# waiting on its subscriber link (ngx_http_session_redis_drain_revocations).
# On the cluster the same holds: each worker subscribes on every master,
# and the PING goes to the node that ran the script (and published there).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use RedisCluster;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use JSON::PP;

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};

# an event stream (t/lib/live_backend.py) for session_live_close
my $live = eval { system('/usr/bin/python3', '-c', 'import websockets') == 0 };
my ($wsport, $sseport) = (free_port(), free_port());
my $backend;
if ($live) {
    $backend = fork // die "fork: $!";
    if ($backend == 0) {
        setpgrp(0, 0);
        { exec '/usr/bin/python3', "$FindBin::Bin/lib/live_backend.py",
               $wsport, $sseport };
        POSIX::_exit(127);
    }
    wait_port($sseport, 1);
}
END { kill 'KILL', $backend if $backend; }

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
        location = /login1 {
            session_issue on;
            session_limit max=1;
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
        location = /app-logout {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/logout;
        }
        location = /backend/logout {
            add_header X-Session-Logout current;
            return 200 "bye\\n";
        }
        location = /logout-all { session_logout all; }
        location = /sessions { session_list; }
        location = /sessions/revoke { session_revoke; }
        location = /echo { return 200 "user=[\$http_x_user_id]\\n"; }
        location /events {
            session_required on;
            session_live_close on;
            proxy_pass http://127.0.0.1:$sseport;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }
    }
HTTP
}

my $a = edge();
my $b = edge();
isnt($a->{port}, $b->{port}, 'two edges');

# the subscribers of the revocation channel, once there are $want (10 s)
sub subscribers {
    my ($want) = @_;
    my $n = 0;
    for (1 .. 100) {
        ($n) = redis_cli($redis, 'PUBSUB', 'NUMSUB', 'edges:revoked')
               =~ /(\d+)\s*$/;
        last if $n >= $want;
        sleep 0.1;
    }
    return $n;
}

# every worker of both edges subscribed
is(subscribers(4), 4, 'four workers (two per edge) subscribed');

# an nginx's worker processes (its master's children)
sub workers {
    my $master = do {
        open my $fh, '<', "$_[0]{root}/logs/nginx.pid" or die $!;
        local $/; <$fh>
    };
    chomp $master;
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        push @w, $pid if $ppid == $master;
    }
    return @w;
}

# an event stream of the session, open (its first event read)
sub sse_open {
    my ($n, $cookie) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $n->{port}, Timeout => 5)
        or return;
    print $s "GET /events HTTP/1.1\r\nHost: localhost\r\n"
             . "Cookie: sid=$cookie\r\n\r\n";
    my ($got, $sel) = ('', IO::Select->new($s));
    while ($got !~ /data: tick/) {
        return unless $sel->can_read(5);
        sysread($s, my $buf, 4096) or return;
        $got .= $buf;
    }
    return $got =~ m{^HTTP/1\.1 200} ? $s : undef;
}

# seconds until the server closes the stream, undef if still open
sub closed_within {
    my ($s, $max) = @_;
    my ($t0, $sel) = (time, IO::Select->new($s));
    while (time - $t0 < $max) {
        next unless $sel->can_read(0.05);
        return time - $t0 unless sysread $s, my $buf, 65536;
    }
    return undef;
}

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

# many quick rounds: the very next request on the other edge is refused
# every time.  Redis writes the revocation message to the subscribers in
# the same pass as the script's reply, but after it: when Redis lost the
# CPU in between, the other edge served the next request from its cache
# (2 rounds of 60, twice, before the logout waited for a PING).  After
# 200 ms every round is refused on both edges (every worker).
{
    my $rounds = $ENV{TEST_EDGE_ROUNDS} || 60;
    my ($served, $late, @seen) = (0, 0);
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
    is($served, 0, "$rounds logouts: the very next request on the other "
       . 'edge refused every time') or diag "@seen";
    is($late, 0, "$rounds logouts: refused on both edges 200 ms later");
}

# the same with a logout by the application (X-Session-Logout on a
# session_issue response): the response is held until the message is out
{
    my $rounds = $ENV{TEST_EDGE_ROUNDS} || 60;
    my ($served, @seen) = (0);
    for my $i (1 .. $rounds) {
        my $c = login($i % 2 ? $a : $b, "app$i");
        my ($x, $y) = $i % 2 ? ($a, $b) : ($b, $a);
        get($y, '/p', $c) for 1 .. 2;
        my $lo = get($x, '/app-logout', $c)->{status};
        my $st = get($y, '/p', $c)->{status};
        push @seen, "$lo/$st";
        $served++ if $st != 401;
    }
    is($served, 0, "$rounds X-Session-Logout logouts: the very next "
       . 'request on the other edge refused every time') or diag "@seen";
}

# the same with session_revoke (a user ending another of their sessions
# from the list): answered only once Redis has written the message to the
# subscribers (a PING after the script, as for a logout)
{
    my $rounds = $ENV{TEST_EDGE_ROUNDS} || 60;
    my ($served, @seen) = (0);
    for my $i (1 .. $rounds) {
        my ($x, $y) = $i % 2 ? ($a, $b) : ($b, $a);
        my $c1 = login($x, "rev$i");
        my $c2 = login($x, "rev$i");
        get($y, '/p', $c2) for 1 .. 2;
        my $j = eval { decode_json(get($x, '/sessions', $c1)->{body}) } || {};
        my ($other) = grep { !$_->{current} } @{ $j->{sessions} || [] };
        my $rv = $other
            ? http_request($x->{port}, 'POST /sessions/revoke',
                           { Cookie => "sid=$c1", 'Content-Type' =>
                             'application/x-www-form-urlencoded' },
                           "id=$other->{id}")->{status}
            : 'no list';
        my $st = get($y, '/p', $c2)->{status};
        push @seen, "$rv/$st";
        $served++ if $rv ne '204' || $st != 401;
    }
    is($served, 0, "$rounds session_revoke: 204, and the very next request "
       . 'with the ended cookie on the other edge refused every time')
        or diag "@seen";
}

# the same with sessionctl (revoke COOKIE, revoke-all SUBJECT): it exits
# only once Redis has written the message to the subscribers (a PING after
# each script that ended something)
{
    my $rounds = $ENV{TEST_EDGE_ROUNDS} ? $ENV{TEST_EDGE_ROUNDS} / 2 : 30;
    my ($served, @seen) = (0);
    for my $i (1 .. $rounds) {
        my $y = $i % 2 ? $a : $b;
        my $c = login($y, "ctl$i");
        get($y, '/p', $c) for 1 .. 2;
        my @cmd = $i % 4 < 2 ? ('revoke', $c) : ('revoke-all', "ctl$i");
        my (undef, $rc) = sessionctl('--keys', "$keys/ring1.keys",
                                     '--redis', "127.0.0.1:$rport",
                                     '--prefix', 'edges:', @cmd);
        my $st = get($y, '/p', $c)->{status};
        push @seen, "$cmd[0]:$rc/$st";
        $served++ if $rc != 0 || $st != 401;
    }
    is($served, 0, "$rounds sessionctl revocations: the very next request "
       . 'on an edge refused every time') or diag "@seen";
}

# the same with session_limit max=1: a second login of the subject ends
# the first session, and its cookie is answered only once the eviction's
# message is out (a PING after the script)
{
    my $rounds = $ENV{TEST_EDGE_ROUNDS} ? $ENV{TEST_EDGE_ROUNDS} / 2 : 30;
    my ($served, @seen) = (0);
    for my $i (1 .. $rounds) {
        my ($x, $y) = $i % 2 ? ($a, $b) : ($b, $a);
        my $r1 = get($x, "/login1?user=lim$i");
        my $c1 = set_cookie($r1, 'sid');
        get($y, '/p', $c1) for 1 .. 2;
        my $r2 = get($x, "/login1?user=lim$i");
        my $c2 = set_cookie($r2, 'sid');
        my $st = get($y, '/p', $c1)->{status};
        push @seen, "$r2->{status}/" . ($c2 ? 'cookie' : 'none') . "/$st";
        $served++ if !$c2 || $st != 401;
    }
    is($served, 0, "$rounds logins over session_limit max=1: the ended "
       . 'session refused on the very next request on the other edge '
       . 'every time') or diag "@seen";
}

# The worker reads the revocations waiting on its subscriber link before
# it serves a cached session.  Made deterministic: B's workers are stopped
# while a request to B is under way; its next bytes arrive first, then the
# logout on A (whose message Redis writes into B's subscriber sockets), then
# its last bytes.  When B's workers go on, epoll reports the request's
# connection before the subscriber links (it was ready first): without the
# drain on the cache-hit path the request was served from B's cache (2
# rounds of 5).
sub stopped_rounds {
    my ($a, $b, $what) = @_;
    my @workers = workers($b);
    is(scalar @workers, 2, "$what: edge B's two workers");
    my ($served, $open, @seen) = (0, 0);
    my $rounds = 8;
    for my $i (1 .. $rounds) {
        my $c = login($a, "stopped$i");
        get($b, '/p', $c) for 1 .. 3;
        my $ev = $live ? sse_open($b, $c) : undef;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $b->{port})
            or die "connect: $!";
        $s->autoflush(1);
        print $s "GET /p HTTP/1.1\r\n";
        sleep 0.1;                       # read by one of B's workers
        kill 'STOP', @workers;
        print $s "Host: localhost\r\nConnection: close\r\n";
        sleep 0.1;
        my $lo = get($a, '/logout', $c)->{status};
        sleep 0.1;
        print $s "Cookie: sid=$c\r\n\r\n";
        sleep 0.1;
        kill 'CONT', @workers;
        my $resp = '';
        my $sel = IO::Select->new($s);
        while ($sel->can_read(5)) {
            my $n = sysread $s, my $buf, 65536;
            last unless $n;
            $resp .= $buf;
        }
        close $s;
        my ($st) = $resp =~ m{^HTTP/1\.1 (\d{3})};
        $st //= 0;
        push @seen, "$lo/$st";
        $served++ if $st != 401;
        if ($live) {
            # the messages a drain read reach session_live_close from a
            # posted event: the stream is closed all the same
            $open++ unless $ev && defined closed_within($ev, 3);
        }
    }
    is($served, 0, "$what: $rounds requests completed after the logout, "
       . "while B's workers were stopped: refused") or diag "@seen";
    SKIP: {
        skip 'python3-websockets is not installed (scripts/deps)', 1
            unless $live;
        is($open, 0, "$what: $rounds event streams on B of the session "
           . 'closed');
    }
}

# Linux: the subscriber sockets signal their bytes (SIGRTMIN+6), and a
# hit asks the socket only after a signal
stopped_rounds($a, $b, 'signalled');

# The same where the signal is not available to the module (ignored in
# the environment nginx starts in, as when something else owns it): each
# hit asks the subscriber socket with recv(MSG_PEEK)
{
    my $sig = 'NUM' . (POSIX::SIGRTMIN() + 6);
    my $c = do { local $SIG{$sig} = 'IGNORE'; edge() };
    is(subscribers(6), 6,
       'a third edge with the signal ignored: its workers subscribed');
    my $log = do { local (@ARGV, $/) = ("$c->{root}/logs/error.log"); <> };
    my $say = 'is in use: cached sessions are served after a recv() of '
              . 'the subscriber link';
    like($log, qr/signal \d+ \Q$say\E/,
         'the third edge says it asks the socket on every hit');
    stopped_rounds($a, $c, 'signal ignored');
    nginx_stop($c);
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

    # every worker of both edges subscribed on every master (3 x 4)
    my $subs = 0;
    for (1 .. 100) {
        $subs = 0;
        for my $p (@ports) {
            my ($n) = cluster_cli($p, 'PUBSUB', 'NUMSUB', 'edges:revoked')
                      =~ /(\d+)\s*$/;
            $subs += $n // 0;
        }
        last if $subs >= 12;
        sleep 0.1;
    }
    is($subs, 12, 'cluster: four workers (two per edge) subscribed on each '
       . 'of the three masters');

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

    # the very next request on the other edge: without the PING to the
    # publishing node and a subscriber link on it, several of 30 are served
    my ($served, $rounds) = (0, 30);
    for my $i (1 .. $rounds) {
        my ($x, $y) = $i % 2 ? ($ca, $cb) : ($cb, $ca);
        my $c = login($x, "quickc$i");
        get($y, '/p', $c) for 1 .. 2;
        get($x, '/logout', $c);
        $served++ if get($y, '/p', $c)->{status} != 401;
    }
    is($served, 0, "cluster: $rounds logouts, the very next request on "
       . 'the other edge refused every time');

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
