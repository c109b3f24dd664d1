# Reloads (HUP), a failed reload, a binary upgrade (USR2, WINCH, QUIT and
# its rollback) and shared zones that appear, disappear or change size in
# between: no worker ever follows a pointer into a zone that is gone
# (issue 11 item 1), requests keep working, metrics count into the zone of
# the running configuration, the session cache of a resized zone still
# hears revocations, and a reload with a new key ring does not serve a
# cookie of the old ring from the worker's memo.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

# a binary upgrade re-executes nginx by the path it was started with
my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
if ($bin !~ m{/}) {
    chomp(my $abs = `command -v $bin 2>/dev/null`
                    || (-x "/usr/sbin/$bin" ? "/usr/sbin/$bin" : $bin));
    $ENV{TEST_NGINX_BINARY} = $bin = $abs;
}

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};
my $slow = SessionTest::slow();

# the http block: $extra goes into http{}, $loc into the server
sub http {
    my (%o) = @_;
    my $ring = $o{ring} // 'ring1.keys';
    my $extra = $o{extra} // '';
    my $loc = $o{loc} // '';
    my $listen = $o{listen} // '';
    return <<"HTTP";
    session_keys $keys/$ring;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;
$extra
    server {
        listen 127.0.0.1:\$PORT;
$listen
        location /p {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /echo { return 200 "user=[\$http_x_user_id]\\n"; }
$loc
    }
HTTP
}

my $metrics_loc = '        location = /metrics { session_metrics; }';

# a binary upgrade passes on only the environment that "env" names
# (scripts/test-hiredis points LD_LIBRARY_PATH at another libhiredis)
my $main = $ENV{LD_LIBRARY_PATH} ? 'env LD_LIBRARY_PATH;' : '';
my $nginx = nginx_start(workers => 2, main => $main,
                        http => http(loc => $metrics_loc));
my $port = $nginx->{port};

# rewrites the configuration with the same listening port and reloads;
# waits until every worker of the old configuration has gone
sub reconfigure {
    my ($text, %o) = @_;
    $text =~ s/\$PORT\b/$port/g;
    my $conf = "$nginx->{root}/conf/nginx.conf";
    open my $fh, '<', $conf or die $!;
    local $/;
    my $all = <$fh>;
    close $fh;
    $all =~ s/^(    default_type text\/plain;\n).*\z/$1$text}\n/ms
        or die "no http block\n";
    open $fh, '>', $conf or die $!;
    print $fh $all;
    close $fh;
    my $before = workers();
    SessionTest::nginx_reload($nginx);
    return if $o{nowait};
    # the old workers leave, new ones come
    for (1 .. 200 * $slow) {
        my $now = workers();
        my %old = map { $_ => 1 } @$before;
        last if @$now && !grep { $old{$_} } @$now;
        sleep 0.05;
    }
}

# the worker processes of the master in the pid file, oldest first
sub workers {
    my ($pidfile) = @_;
    $pidfile //= "$nginx->{root}/logs/nginx.pid";
    open my $fh, '<', $pidfile or return [];
    chomp(my $master = <$fh> // '');
    close $fh;
    return [] unless $master;
    # after USR2 the new master is a child of the old one
    my %masters;
    for my $f ("$nginx->{root}/logs/nginx.pid",
               "$nginx->{root}/logs/nginx.pid.oldbin") {
        open my $pf, '<', $f or next;
        chomp(my $m = <$pf> // '');
        $masters{$m} = 1 if $m;
    }
    my @w;
    for my $d (glob '/proc/[0-9]*') {
        open my $st, '<', "$d/stat" or next;
        my $line = <$st>;
        close $st;
        next unless $line;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S (\d+)/;
        next unless defined $ppid && $ppid == $master && !$masters{$pid};
        # under valgrind the process titles are not visible: every child
        # of the master counts (the cache manager too, in TEST 6)
        if (SessionTest::valgrind()) {
            push @w, $pid;
            next;
        }
        open my $cl, '<', "$d/cmdline" or next;
        my $cmd = <$cl> // '';
        close $cl;
        push @w, $pid if $cmd =~ /worker process/
                         && $cmd !~ /is shutting down/;
    }
    return [sort { $a <=> $b } @w];
}

# crashes logged since the last call
my $crash_mark = 0;
sub crashes {
    my $all = SessionTest::error_log($nginx);
    my $log = substr($all, $crash_mark);
    $crash_mark = length $all;
    my @c = $log =~ /(exited on signal (?!9\b)\d+.*|signal 11.*|assertion.*)/g;
    return @c;
}

sub get { http_request($port, "GET $_[0]", $_[1] ? { Cookie => "sid=$_[1]" } : {}) }

sub ctl { sessionctl('--keys', "$keys/ring1.keys",
                     '--redis', "127.0.0.1:$rport", @_) }

# every worker of the current generation serves the cookie (two rounds
# per worker: accept_mutex is off, the kernel spreads the connections)
sub all_ok {
    my ($c, $n) = @_;
    my @st = map { get('/p', $c)->{status} } 1 .. ($n // 12);
    return join(',', @st);
}

# new workers may still be connecting to Redis (503): wait for a 200
sub warm {
    my ($cookie) = @_;
    for (1 .. 100 * $slow) {
        return if get('/p', $cookie)->{status} == 200;
        sleep 0.05;
    }
}

sub scrape {
    my $r = http_request($port, 'GET /metrics');
    my %m;
    for (split /\n/, $r->{body} // '') {
        next if /^#/;
        my ($k, $v) = /^(\S+) (\S+)$/ or next;
        $m{$k} = $v;
    }
    return ($r->{status}, \%m);
}

my $c = ctl('create', 'reloaded');
like($c, qr/^k1\./, 'a session');
is(all_ok($c, 6), join(',', (200) x 6), 'before any reload: 200');

# --- TEST 1: session_metrics removed by a reload ------------------------

reconfigure(http());
my @st = map { get('/p', $c)->{status} } 1 .. 12;
push @st, get('/p', 'k1.bad.cookie')->{status};
sleep 0.3;
is(join(',', @st), join(',', (200) x 12, 401),
   'metrics removed by a reload: requests still served');
is_deeply([crashes()], [], 'metrics removed: no worker crashed')
    or diag(SessionTest::error_log($nginx));

# Redis unreachable for a moment: the outage paths count too
redis_stop($redis);
sleep 0.5;
my $down = get('/p', $c)->{status};
$redis = redis_start(port => $rport);
is($down, 503, 'Redis down: 503');
my $back;
for (1 .. 60 * $slow) {
    $back = get('/p', $c)->{status};
    last if $back == 401;         # the record was in the stopped Redis
    sleep 0.1;
}
is($back, 401, 'Redis back (empty): the session is unknown, 401');
is_deeply([crashes()], [], 'outage without metrics: no worker crashed');
$c = ctl('create', 'reloaded');

# --- TEST 2: session_metrics added back ---------------------------------

reconfigure(http(loc => $metrics_loc));
my ($mst, $m0) = scrape();
is($mst, 200, 'metrics back: 200');
get('/p', $c) for 1 .. 5;
my (undef, $m1) = scrape();
is(($m1->{'nginx_session_validations_total{status="ok"}'} // 0)
   - ($m0->{'nginx_session_validations_total{status="ok"}'} // 0), 5,
   'metrics back: the new zone counts');
is_deeply([crashes()], [], 'metrics added back: no worker crashed');

# --- TEST 3: a reload that fails after the metrics zone was created -----

reconfigure(http());                      # no metrics
my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 5, ReuseAddr => 1)
    or die "listen: $!";
my $bport = $busy->sockport;
my $mark = length SessionTest::error_log($nginx);
reconfigure(http(loc => $metrics_loc,
                 listen => "        listen 127.0.0.1:$bport;"),
            nowait => 1);
# nginx tries to bind five times, half a second apart
for (1 .. 100 * $slow) {
    last if substr(SessionTest::error_log($nginx), $mark)
            =~ /still could not bind|bind\(\) .* failed/;
    sleep 0.1;
}
sleep 3;
like(substr(SessionTest::error_log($nginx), $mark), qr/bind\(\)/,
     'the reload failed (address in use)');
close $busy;
# the old workers go on; a worker that dies is replaced by a fresh fork
my $w = workers();
is(scalar @$w, 2, 'two workers after the failed reload');
kill 'KILL', $w->[0] if @$w;
for (1 .. 100 * $slow) {
    my $now = workers();
    last if @$now == 2 && !grep { $_ == $w->[0] } @$now;
    sleep 0.05;
}
@st = map { get('/p', $c)->{status} } 1 .. 12;
push @st, get('/p')->{status};
sleep 0.3;
is(join(',', @st), join(',', (200) x 12, 401),
   'failed reload, worker respawned: requests served');
is_deeply([crashes()], [], 'failed reload: no respawned worker crashed')
    or diag(substr(SessionTest::error_log($nginx), $mark));

# --- TEST 4: session_cache added, resized, removed ----------------------

reconfigure(http(loc => $metrics_loc,
                 extra => '    session_cache zone=sess:1m valid=30s;'));

sub wait_subs {
    my ($want) = @_;
    my $subs = 0;
    for (1 .. 100 * $slow) {
        ($subs) = redis_cli($redis, 'PUBSUB', 'NUMSUB', 'session:revoked')
                  =~ /(\d+)\s*$/;
        last if $subs == $want;
        sleep 0.05;
    }
    return $subs;
}

is(wait_subs(2), 2, 'cache added: each worker subscribed');
my $c2 = ctl('create', 'cached');
is(all_ok($c2), join(',', (200) x 12), 'cache added: 200');

reconfigure(http(loc => $metrics_loc,
                 extra => '    session_cache zone=sess:2m valid=30s;'));
is(wait_subs(2), 2, 'cache resized: the new workers subscribed');
is(all_ok($c2), join(',', (200) x 12), 'cache resized: 200');
ctl('revoke', $c2);
sleep 0.2;
is(all_ok($c2), join(',', (401) x 12),
   'cache resized: a revocation reaches the new zone at once');
is_deeply([crashes()], [], 'cache resized: no worker crashed');

my $c3 = ctl('create', 'uncached');
reconfigure(http(loc => $metrics_loc));
is(all_ok($c3), join(',', (200) x 12), 'cache removed: 200');
ctl('revoke', $c3);
is(all_ok($c3), join(',', (401) x 12), 'cache removed: revoked, 401');
is_deeply([crashes()], [], 'cache removed: no worker crashed');

# --- TEST 5: a new key ring: the memo of the old one is not used ---------

my $c4 = ctl('create', 'memo');
is(all_ok($c4), join(',', (200) x 12), 'ring1 cookie: 200 (memoised)');
reconfigure(http(loc => $metrics_loc, ring => 'k2only.keys'));
is(all_ok($c4), join(',', (401) x 12),
   'reload with a ring without k1: the memoised k1 cookie is refused');
reconfigure(http(loc => $metrics_loc));

# --- TEST 6: the cache manager holds no Redis link ------------------------

my (undef, $mc) = scrape();
is($mc->{'nginx_session_redis_connections'}, 2,
   'before: two workers, one link each');
reconfigure(http(loc => $metrics_loc,
                 extra => "    proxy_cache_path $nginx->{root}/pc "
                          . "keys_zone=pc:1m;"));
my $conns;
for (1 .. 60 * $slow) {
    (undef, $mc) = scrape();
    $conns = $mc->{'nginx_session_redis_connections'} // -1;
    last if $conns == 2;
    sleep 0.1;
}
sleep 0.5;
(undef, $mc) = scrape();
is($mc->{'nginx_session_redis_connections'}, 2,
   'with proxy_cache_path: still one link per worker (helpers have none)');

# --- TEST 7: binary upgrade, then its rollback ----------------------------

# start from a reload that dropped the metrics zone (the stale pointer
# the old master would hand its new workers), then USR2
reconfigure(http());
my $pidfile = "$nginx->{root}/logs/nginx.pid";
my $old = SessionTest::nginx_pid($nginx);
kill 'USR2', $old;
my $new;
for (1 .. 100 * $slow) {
    $new = -f "$pidfile.oldbin" ? SessionTest::nginx_pid($nginx) : undef;
    last if $new && $new != $old && @{ workers($pidfile) } == 2;
    sleep 0.05;
}
ok($new && $new != $old, 'USR2: a new master');
kill 'WINCH', $old;
for (1 .. 200 * $slow) {
    last unless @{ workers("$pidfile.oldbin") };
    sleep 0.05;
}
is(scalar @{ workers("$pidfile.oldbin") }, 0,
   'WINCH: the old workers are gone');
warm($c) for 1 .. 4;
is(all_ok($c, 8), join(',', (200) x 8), 'upgraded: 200 from the new workers');

# rollback: the old master starts workers again (without rereading its
# configuration), the new master quits
kill 'HUP', $old;
for (1 .. 100 * $slow) {
    last if @{ workers("$pidfile.oldbin") } == 2;
    sleep 0.05;
}
is(scalar @{ workers("$pidfile.oldbin") }, 2,
   'rollback: the old master has workers again');
kill 'QUIT', $new;
for (1 .. 200 * $slow) {
    last unless kill 0, $new;
    sleep 0.05;
}
ok(!kill(0, $new), 'rollback: the new master has quit');
# the pid file is the old master's again (nginx renames it back)
for (1 .. 40 * $slow) {
    last if (SessionTest::nginx_pid($nginx) // 0) == $old;
    sleep 0.05;
}
is(SessionTest::nginx_pid($nginx), $old, 'rollback: old pid file back');
warm($c) for 1 .. 4;
@st = map { get('/p', $c)->{status} } 1 .. 12;
push @st, get('/p')->{status};
sleep 0.3;
is(join(',', @st), join(',', (200) x 12, 401),
   'rollback: the old master\'s new workers serve');
is_deeply([crashes()], [], 'upgrade and rollback: no worker crashed')
    or diag(SessionTest::error_log($nginx));

done_testing();
