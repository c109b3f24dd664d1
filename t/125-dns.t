# Redis behind a host name (issue 18 item 3).
#
# With nginx's "resolver": a DNS server on loopback (dnsmasq, TTL 1 s)
# names Redis; Redis is moved from 127.0.0.2 to 127.0.0.3 with its AOF
# directory (a container rebuilt with its volume) and the name with it:
# the same cookie is valid again within 5 s, with no reload.  A name that
# moves while the link is up is followed too (its TTL ran out).  Without a
# resolver, a name is resolved when the configuration loads; one that does
# not resolve fails "nginx -t", naming the file and line.
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
    unless -x '/usr/sbin/dnsmasq' || `command -v dnsmasq 2>/dev/null`;

my $keys = test_keys_dir();
my $tmp = tempdir(CLEANUP => 1);
my $slow = SessionTest::slow();

# --- a DNS server on loopback -------------------------------------------

my $dns_port = free_port();
my $dns_pid;

sub dns_start {
    my (@records) = @_;
    dns_stop();
    my $pidfile = "$tmp/dnsmasq.pid";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$tmp/dnsmasq.log";
        open STDERR, '>&', \*STDOUT;
        exec 'dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts',
             '--listen-address=127.0.0.1', '--bind-interfaces',
             "--port=$dns_port", '--local-ttl=1', '--user=root',
             "--pid-file=$pidfile",
             map({ "--host-record=$_" } @records);
        exit 127;
    }
    $dns_pid = $pid;
    # up once it answers
    for (1 .. 100) {
        return if dns_query('redis.test');
        sleep 0.05;
    }
    die "dnsmasq did not answer\n";
}

sub dns_query { (dns_query_all(@_))[0] }

# an A query to the loopback DNS server: its addresses
sub dns_query_all {
    my ($name) = @_;
    my $s = IO::Socket::INET->new(Proto => 'udp', PeerAddr => '127.0.0.1',
                                  PeerPort => $dns_port) or return;
    my $q = pack('n6', 0x1234, 0x0100, 1, 0, 0, 0)
          . join('', map { chr(length) . $_ } split /\./, $name)
          . "\0" . pack('n2', 1, 1);
    $s->send($q);
    my $sel = IO::Select->new($s);
    return unless $sel->can_read(0.5);
    my $a;
    $s->recv($a, 512) or return;
    my $n = length($a) > 16 ? unpack('n', substr($a, 6, 2)) : 0;
    # answers are name pointer (2), type, class, ttl, rdlength, rdata (4)
    return map { join '.', unpack('C4', substr($a, -16 * $_ + 12, 4)) }
           reverse 1 .. $n;
}

sub dns_stop {
    return unless $dns_pid;
    kill 'TERM', $dns_pid;
    waitpid $dns_pid, 0;
    undef $dns_pid;
}

END { dns_stop() }

# --- Redis named redis.test, moved with its AOF volume ------------------

my $rport = free_port();
my $vol = tempdir(CLEANUP => 1);
chmod 0777, $vol;

dns_start('redis.test,127.0.0.2');
my $redis = redis_start(host => '127.0.0.2', port => $rport,
                        appendonly => 1, dir => $vol);

my $nginx = nginx_start(workers => 2, http => <<"HTTP");
    resolver 127.0.0.1:$dns_port ipv6=off;
    resolver_timeout 1s;

    session_keys $keys/ring1.keys;
    session_redis redis.test:$rport connect_timeout=500ms timeout=500ms;
    session_cookie sid secure=off;
    session_cache zone=sc:1m;

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

sub workers {
    my $master = SessionTest::nginx_pid($nginx);
    return join ',', sort split ' ', `pgrep -P $master 2>/dev/null`;
}

sub wait_status {
    my ($cookie, $want, $limit) = @_;
    my $t0 = time;
    my ($r, @seen);
    while (time - $t0 < $limit) {
        $r = http_request($port, 'GET /p', { Cookie => "sid=$cookie" },
                          undef, 2);
        push @seen, $r->{status};
        return (time - $t0, $r, \@seen) if $r->{status} == $want;
        sleep 0.1;
    }
    return (undef, $r, \@seen);
}

my $cookie = sessionctl('--keys', "$keys/ring1.keys",
                        '--redis', "127.0.0.2:$rport", 'create', 'alice');
ok($cookie, 'logged in: session created in Redis on 127.0.0.2');

my ($t, $r) = wait_status($cookie, 200, 10 * $slow);
ok(defined $t, 'the cookie is valid through the name redis.test');
is($r->{body}, "user=[alice]\n", '... for alice');

my $master = SessionTest::nginx_pid($nginx);
my $workers = workers();

# rebuild: Redis stops, comes back on another address with the same
# volume, and the name follows it
redis_stop($redis);
is(http_request($port, 'GET /p', { Cookie => "sid=$cookie" }, undef, 3)
   ->{status}, 503, 'Redis gone: 503');
my $t_down = time;
$redis = redis_start(host => '127.0.0.3', port => $rport, appendonly => 1,
                     dir => $vol);
dns_start('redis.test,127.0.0.3');
my $t_moved = time;

my $seen;
($t, $r, $seen) = wait_status($cookie, 200, 15 * $slow);
ok(defined $t, 'the same cookie is valid again after the move ('
   . (defined $t ? sprintf('%.1f s after the name moved, %.1f s after '
                           . 'Redis went down', $t, time - $t_down)
                 : 'never') . ')');
ok(defined $t && $t < 5 * $slow, '... within 5 s');
is($r->{body}, "user=[alice]\n", '... the same session (the AOF volume)');
ok(!grep({ $_ != 200 && $_ != 503 } @$seen),
   'meanwhile only 503s: ' . join(',', @{$seen}[0 .. ($#$seen > 9 ? 9 : $#$seen)]));
is(SessionTest::nginx_pid($nginx), $master, 'no new master');
is(workers(), $workers, 'the same workers: no reload');

# every worker follows: both answer 200 (several requests spread over them)
my @st = SessionTest::parallel_requests($port, 8, 'GET /p',
                                        { Cookie => "sid=$cookie" }, 5);
is(join(',', @st), join(',', (200) x 8), 'every worker reaches the new Redis');

# the name moves while the link is up and the old Redis still answers:
# followed once the TTL has run out
my $other = redis_start(host => '127.0.0.4', port => $rport);
my $c2 = sessionctl('--keys', "$keys/ring1.keys",
                    '--redis', "127.0.0.4:$rport", 'create', 'bob');
is(http_request($port, 'GET /p', { Cookie => "sid=$c2" })->{status}, 401,
   'a session that exists only on 127.0.0.4: not yet');
dns_start('redis.test,127.0.0.4');
($t, $r) = wait_status($c2, 200, 15 * $slow);
ok(defined $t && $t < 5 * $slow, 'a connected link follows the name when '
   . 'its TTL runs out (' . (defined $t ? sprintf('%.1f s', $t) : 'never')
   . ')');
is($r->{body}, "user=[bob]\n", '... to the new address');
like(SessionTest::error_log($nginx),
     qr/session redis redis\.test:\d+: "redis\.test" now resolves to 127\.0\.0\.4, not 127\.0\.0\.3: reconnecting/,
     'the move is logged');
like(SessionTest::error_log($nginx),
     qr/session redis subscriber redis\.test:\d+: "redis\.test" now resolves to 127\.0\.0\.4/,
     '... by the revocation subscriber too');

# never a lookup of our own: the worker talks to no DNS server but the
# resolver's, and reads no /etc/hosts or resolv.conf
SKIP: {
    skip 'strace is not installed', 1 unless `command -v strace 2>/dev/null`;
    my @w = split ',', workers();
    my $out = "$tmp/strace.out";
    my $pid = fork // die;
    if ($pid == 0) {
        exec 'strace', '-f', '-qq', '-o', $out, '-e',
             'trace=connect,sendto,openat,open', map { ('-p', $_) } @w;
        exit 127;
    }
    sleep 1;
    # one more move, while traced
    dns_start('redis.test,127.0.0.3');
    ($t) = wait_status($cookie, 200, 15 * $slow);
    sleep 0.5;
    kill 'INT', $pid;
    waitpid $pid, 0;
    my $trace = do { local (@ARGV, $/) = $out; <> } // '';
    skip 'strace could not attach', 1 unless $trace =~ /connect\(/;
    my @bad = grep { /hosts|resolv\.conf|nsswitch|gai\.conf|htons\(53\)/ }
              split /\n/, $trace;
    ok(defined $t && !@bad, 'no getaddrinfo() in the workers: '
       . (@bad ? join(' | ', @bad[0 .. ($#bad > 3 ? 3 : $#bad)])
               : 'nothing but the resolver\'s queries'));
}

# the DNS server goes away while Redis stays: the links stay up (a failed
# re-check keeps the address in use), said once per link
dns_stop();
my $log_before = length SessionTest::error_log($nginx);
sleep 3;
my $c3 = sessionctl('--keys', "$keys/ring1.keys",
                    '--redis', "127.0.0.3:$rport", 'create', 'carol');
($t, $r) = wait_status($c3, 200, 3 * $slow);
ok(defined $t, 'DNS down, Redis up: a new session is still checked in '
   . 'Redis (200)');
my $later = substr(SessionTest::error_log($nginx), $log_before);
my $n = () = $later =~ /could not be resolved .*staying on 127\.0\.0\.3/g;
ok($n >= 1 && $n <= 4, "the failed re-check is logged once per link ($n)");
unlike($later, qr/unavailable/, 'no outage');

# a name with two addresses, one of them dead: a reload's new workers try
# them in turn and settle on the live one
dns_start('redis.test,127.0.0.5', 'redis.test,127.0.0.3');
is(join(',', sort(dns_query_all('redis.test'))), '127.0.0.3,127.0.0.5',
   'redis.test has two addresses');
nginx_reload($nginx);
my $old = $workers;
for (1 .. 100 * $slow) {
    my $now = workers();
    last if $now ne $old && $now ne '' && ($now =~ tr/,//) == 1;
    sleep 0.1;
}
my $ok = 0;
for (1 .. 8) {
    my ($tt) = wait_status($c3, 200, 5 * $slow);
    $ok++ if defined $tt;
}
is($ok, 8, 'after a reload, requests reach the live address of the two');

unlike(SessionTest::error_log($nginx), qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in the error log');
nginx_stop($nginx);

# --- without a resolver ----------------------------------------------------

sub nginx_t {
    my ($http) = @_;
    my $root = tempdir(CLEANUP => 1);
    mkdir "$root/$_" for qw(conf logs);
    my $modules = join '', map { "load_module $_;\n" }
        split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    open my $fh, '>', "$root/conf/nginx.conf" or die $!;
    print $fh "${modules}error_log $root/logs/error.log;\n"
            . "pid $root/logs/nginx.pid;\nevents { }\nhttp {\n$http}\n";
    close $fh;
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $out = `$bin -t -p $root -c $root/conf/nginx.conf 2>&1`;
    return ($? >> 8, $out, "$root/conf/nginx.conf");
}

my ($rc, $out, $file) = nginx_t(<<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis nope.invalid:6379;
HTTP
isnt($rc, 0, 'an unresolvable name without a resolver fails nginx -t');
like($out, qr/"session_redis" host "nope\.invalid" not found.* in \Q$file\E:\d+/,
     '... naming the host, the file and the line');

($rc, $out) = nginx_t(<<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis sentinel=127.0.0.1:26379,nope.invalid:26379 master=m;
HTTP
like($out, qr/host "nope\.invalid" not found/, 'a sentinel name too');

($rc, $out) = nginx_t(<<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis nope.invalid:6379;
    resolver 127.0.0.1:$dns_port;
HTTP
is($rc, 0, 'with a resolver the name is left to the workers: nginx -t '
   . 'passes') or diag $out;

($rc, $out) = nginx_t(<<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis bad/name:6379;
HTTP
like($out, qr/invalid "session_redis" address "bad\/name:6379"/,
     'a malformed name is refused');

# a name resolved at load time, from /etc/hosts: the master is given its
# own view of /etc/hosts in a private mount namespace
SKIP: {
    my $hosts = "$tmp/hosts";
    open my $fh, '>', $hosts or die $!;
    print $fh "127.0.0.1 localhost\n127.0.0.3 redis-at-load.test\n";
    close $fh;
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    chomp($bin = `command -v $bin`) unless $bin =~ m{/};
    my $wrap = "$tmp/nginx-hosts";
    open $fh, '>', $wrap or die $!;
    print $fh "#!/bin/sh\nexec unshare --mount -- sh -c "
            . "'mount --bind $hosts /etc/hosts && exec $bin \"\$@\"' sh \"\$@\"\n";
    close $fh;
    chmod 0755, $wrap;
    skip 'no private mount namespace (unshare --mount needs root)', 3
        unless system("$wrap -v >/dev/null 2>&1") == 0;

    local $ENV{TEST_NGINX_BINARY} = $wrap;
    local $ENV{TEST_NGINX_USE_VALGRIND} = 0;
    my $n2 = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis redis-at-load.test:$rport connect_timeout=500ms
                  timeout=500ms;
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
    $port = $n2->{port};
    ($t, $r) = wait_status($cookie, 200, 10 * $slow);
    ok(defined $t, 'without a resolver, a name from /etc/hosts is resolved '
       . 'at load: 200');
    is($r->{body}, "user=[alice]\n", '... from the Redis on 127.0.0.3');
    dns_stop();
    is(http_request($port, 'GET /p', { Cookie => "sid=$cookie" })->{status},
       200, '... and needs no DNS server afterwards');
    nginx_stop($n2);
}

redis_stop($other);
done_testing();
