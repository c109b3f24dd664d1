# Sentinel with host names (issue 18 item 3, issue 11's suspected blocking
# getaddrinfo): the sentinels run with "resolve-hostnames yes" and
# "announce-hostnames yes", so "SENTINEL get-master-addr-by-name" answers
# a host name.  nginx resolves it (and the sentinels' own names) with its
# "resolver", a dnsmasq on loopback, never with getaddrinfo() in a worker;
# after a failover Sentinel announces the replica's name and nginx follows
# it.  Without a resolver, an announced name is refused with a clear log
# line (503), instead of a blocking lookup in the worker.
#
# The sentinels resolve the names themselves with the system's resolver:
# they run in a private mount namespace whose /etc/hosts has them.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

plan skip_all => 'dnsmasq is not installed (package dnsmasq-base)'
    unless `command -v dnsmasq 2>/dev/null` || -x '/usr/sbin/dnsmasq';

my $tmp = tempdir(CLEANUP => 1);
chmod 0755, $tmp;
my $hosts = "$tmp/hosts";
open my $fh, '>', $hosts or die $!;
print $fh "127.0.0.1 localhost\n127.0.0.2 redis-a.test\n"
        . "127.0.0.3 redis-b.test\n";
close $fh;

plan skip_all => 'no private mount namespace (unshare --mount needs root)'
    unless system('unshare', '--mount', '--', 'sh', '-c',
                  "mount --bind $hosts /etc/hosts") == 0;

my $keys = test_keys_dir();
my $slow = SessionTest::slow();

# --- DNS on loopback --------------------------------------------------------

my $dns_port = free_port();
my $dns_pid = fork // die;
if ($dns_pid == 0) {
    open STDOUT, '>>', "$tmp/dnsmasq.log";
    open STDERR, '>&', \*STDOUT;
    exec 'dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts',
         '--listen-address=127.0.0.1', '--bind-interfaces', "--port=$dns_port",
         '--local-ttl=1', '--user=root', "--pid-file=$tmp/dnsmasq.pid",
         '--host-record=redis-a.test,127.0.0.2',
         '--host-record=redis-b.test,127.0.0.3',
         '--host-record=sentinel.test,127.0.0.1';
    exit 127;
}
END { if ($dns_pid) { kill 'TERM', $dns_pid; waitpid $dns_pid, 0 } }
sleep 0.3;

# --- a master on 127.0.0.2, a replica on 127.0.0.3 announcing its name ----

my $rport = free_port();
my $master = redis_start(host => '127.0.0.2', port => $rport);
my $replica = redis_start(host => '127.0.0.3', port => $rport);
redis_cli($replica, 'CONFIG', 'SET', 'replica-announce-ip', 'redis-b.test');
redis_cli($replica, 'REPLICAOF', '127.0.0.2', $rport);

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
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel monitor mymaster redis-a.test $rport 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 3000
CONF
    close $fh;
    system('unshare', '--mount', '--', 'sh', '-c',
           "mount --bind $hosts /etc/hosts && "
           . "exec redis-server $dir/sentinel.conf --sentinel") == 0
        or die "sentinel failed\n";
    wait_port($port, 1) or die "sentinel did not start\n";
    push @sentinels, $port;
}

sub sentinel_master {
    my ($s) = @_;
    my $a = `redis-cli -p $s SENTINEL get-master-addr-by-name mymaster 2>&1`;
    return join ':', split /\n/, $a;
}

# the replica in sync and known by name, the sentinels aware of each other
for (1 .. 150) {
    my $info = redis_cli($master, 'INFO', 'replication');
    my $s = `redis-cli -p $sentinels[0] SENTINEL master mymaster 2>/dev/null`;
    my ($ns) = $s =~ /num-other-sentinels\s+(\d+)/;
    my ($nr) = $s =~ /num-slaves\s+(\d+)/;
    last if $info =~ /ip=redis-b\.test,port=$rport,state=online/
            && ($ns // 0) == 2 && ($nr // 0) == 1;
    sleep 0.1;
}
is(sentinel_master($sentinels[0]), "redis-a.test:$rport",
   'Sentinel announces the master by name');

my $http_tail = <<"HTTP";
    session_keys $keys/ring1.keys;
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

# --- without a resolver: refused, with a reason --------------------------

my $list_ip = join ',', map { "127.0.0.1:$_" } @sentinels;
# (ready => 0: its link never comes up, nothing for the harness to await)
my $plain = nginx_start(ready => 0, http => <<"HTTP" . $http_tail);
    session_redis sentinel=$list_ip master=mymaster
                  connect_timeout=500ms timeout=500ms;
HTTP

my $cookie = sessionctl('--keys', "$keys/ring1.keys",
                        '--redis', "127.0.0.2:$rport", 'create', 'survivor');
ok($cookie, 'session created on the master');
redis_cli($master, 'WAIT', '1', '2000');

my $why = qr/sentinel announced the master by host name "redis-a\.test", which is resolved only with a "resolver" in http\{\}/;
for (1 .. 100 * $slow) {
    last if SessionTest::error_log($plain) =~ $why;
    sleep 0.1;
}
is(http_request($plain->{port}, 'GET /p', { Cookie => "sid=$cookie" })
   ->{status}, 503, 'no resolver: an announced name is not looked up (503)');
like(SessionTest::error_log($plain), $why, '... and the log says why');
nginx_stop($plain);

# --- with the resolver --------------------------------------------------------

my $list = join ',', map { "sentinel.test:$_" } @sentinels;
my $nginx = nginx_start(workers => 2, http => <<"HTTP" . $http_tail);
    resolver 127.0.0.1:$dns_port ipv6=off;
    resolver_timeout 1s;
    session_redis sentinel=$list master=mymaster
                  connect_timeout=500ms timeout=500ms;
HTTP
my $port = $nginx->{port};

my $r;
for (1 .. 50 * $slow) {
    $r = http_request($port, 'GET /p', { Cookie => "sid=$cookie" });
    last if $r->{status} == 200;
    sleep 0.1;
}
is($r->{status}, 200, 'sentinels by name, master by announced name: 200');
is($r->{body}, "user=[survivor]\n", '... the session');

# the failover: Sentinel announces the replica's name
my $pid = SessionTest::nginx_pid($nginx);
redis_stop($master);
my $t0 = time;
my ($back, @seen);
while (time - $t0 < 20 * $slow) {
    $r = http_request($port, 'GET /p', { Cookie => "sid=$cookie" }, undef, 2);
    push @seen, $r->{status};
    if ($r->{status} == 200) { $back = time - $t0; last }
    sleep 0.1;
}
ok(defined $back, 'requests succeed again after the failover ('
   . (defined $back ? sprintf('%.1f s', $back) : 'never') . ')');
is($r->{body}, "user=[survivor]\n", 'the session survived');
ok(!grep({ $_ != 200 && $_ != 503 } @seen), 'meanwhile only 503s');
is(SessionTest::nginx_pid($nginx), $pid, 'no reload');

my $now = '';
for (1 .. 50) {
    $now = (grep { $_ ne "redis-a.test:$rport" } map { sentinel_master($_) }
            @sentinels)[0] // '';
    last if $now;
    sleep 0.1;
}
is($now, "redis-b.test:$rport", 'Sentinel now announces the replica by name');

unlike(SessionTest::error_log($nginx), qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in the error log');

done_testing();
