# Redis Sentinel: nginx finds the master through three sentinels; after
# the master is killed and a replica promoted, requests succeed again
# within 5 s with the sessions intact (replicated), and no reload.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);

my $keys = test_keys_dir();

my $master = redis_start();
my $mport = $master->{port};
my @replicas;
for (1 .. 2) {
    my $r = redis_start();
    redis_cli($r, 'REPLICAOF', '127.0.0.1', $mport);
    push @replicas, $r;
}

my @sentinels;
END {
    system("redis-cli -p $_ shutdown nosave >/dev/null 2>&1") for @sentinels;
}
for (1 .. 3) {
    my $port = free_port();
    my $dir = tempdir(CLEANUP => 1);
    open my $fh, '>', "$dir/sentinel.conf" or die $!;
    print $fh <<"CONF";
port $port
bind 127.0.0.1
daemonize yes
dir $dir
logfile $dir/sentinel.log
pidfile $dir/sentinel.pid
sentinel monitor mymaster 127.0.0.1 $mport 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 3000
sentinel parallel-syncs mymaster 2
CONF
    close $fh;
    system('redis-server', "$dir/sentinel.conf", '--sentinel') == 0
        or die "sentinel failed\n";
    wait_port($port, 1) or die "sentinel did not start\n";
    push @sentinels, $port;
}

# replicas in sync, sentinels aware of each other
for (1 .. 100) {
    my $info = redis_cli($master, 'INFO', 'replication');
    my ($n) = $info =~ /connected_slaves:(\d+)/;
    my $s = `redis-cli -p $sentinels[0] SENTINEL master mymaster 2>/dev/null`;
    my ($ns) = $s =~ /num-other-sentinels\s+(\d+)/;
    last if ($n // 0) == 2 && ($ns // 0) == 2;
    sleep 0.1;
}

my $sentinel_list = join ',', map { "127.0.0.1:$_" } @sentinels;
my $nginx = nginx_start(workers => 2, http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis sentinel=$sentinel_list master=mymaster
                  connect_timeout=500ms timeout=500ms;
    session_cookie sid secure=off;

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

my $cookie = sessionctl('--keys', "$keys/ring1.keys",
                        '--redis', "127.0.0.1:$mport", 'create', 'survivor');
ok($cookie, 'session created on the master');
redis_cli($master, 'WAIT', '2', '2000');

my $r;
for (1 .. 30) {
    $r = http_request($port, 'GET /p', { Cookie => "sid=$cookie" });
    last if $r->{status} == 200;
    sleep 0.1;
}
is($r->{status}, 200, 'found the master through Sentinel');
is($r->{body}, "user=[survivor]\n", '... and the session');

my $pid = SessionTest::nginx_pid($nginx);
redis_stop($master);
my $t0 = time;
my ($back, @seen);
while (time - $t0 < 15) {
    $r = http_request($port, 'GET /p', { Cookie => "sid=$cookie" }, undef, 2);
    push @seen, $r->{status};
    if ($r->{status} == 200) { $back = time - $t0; last }
    sleep 0.1;
}
ok(defined $back, 'requests succeed again after the failover ('
   . (defined $back ? sprintf('%.1f s', $back) : 'never') . ')');
ok(defined $back && $back < 5, '... within 5 s of the master dying');
is($r->{body}, "user=[survivor]\n", 'the session survived the failover');
ok(!grep({ $_ != 200 && $_ != 503 } @seen),
   'meanwhile only 503s (fail closed): ' . join(',', @seen[0 .. ($#seen > 9 ? 9 : $#seen)]));
is(SessionTest::nginx_pid($nginx), $pid, 'no reload');

# the Sentinel that led the failover knows first; the others learn it
# from its hello messages, which can lag on a loaded machine
my $nport = $mport;
my $t1 = time;
while ($nport eq $mport && time - $t1 < 10) {
    for my $s (@sentinels) {
        my $new = `redis-cli -p $s SENTINEL get-master-addr-by-name mymaster`;
        my (undef, $p) = split /\n/, $new;
        if (defined $p && $p ne $mport) { $nport = $p; last }
    }
    sleep 0.1 if $nport eq $mport;
}
isnt($nport, $mport, "Sentinel promoted a replica (port $nport)");

my $c2 = sessionctl('--keys', "$keys/ring1.keys",
                    '--redis', "127.0.0.1:$nport", 'create', 'after');
# each worker finds the new master on its own: one that served the 200
# above may have been alone (under valgrind, the other's lookups can
# still time out at 500 ms); every answer meanwhile is a 503, none wrong
my ($after, @after) = ('');
for (1 .. 50) {
    my $x = http_request($port, 'GET /p', { Cookie => "sid=$c2" });
    push @after, $x->{status};
    $after = $x->{body}, last if $x->{status} == 200;
    sleep 0.1;
}
is($after, "user=[after]\n", 'sessions created on the new master work ('
   . join(',', @after) . ')');
ok(!grep({ $_ != 200 && $_ != 503 } @after),
   '... and until then only 503s');

unlike(SessionTest::error_log($nginx), qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in the error log');

done_testing();
