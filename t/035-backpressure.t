# Back-pressure on the Redis link: a worker writes the commands of each
# event loop iteration in one go, and waits for EPOLLOUT only when the
# socket buffer is full.  Here Redis, on a unix socket, is stopped
# (SIGSTOP) while 250 logins, each with 4 KB of claims, are in flight:
# about 1 MB of commands, several times what a unix socket buffers
# (net.core.wmem_default, 208 KB), so the worker's writes hit EAGAIN and
# the rest must wait for EPOLLOUT (strace shows it; over TCP loopback the
# kernel took the whole megabyte).  When Redis runs again every login gets
# its cookie, the sessions work, and the link was never dropped.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Time::HiRes qw(time sleep);
use POSIX ();

my $keys = test_keys_dir();
my $redis = redis_start(unixsocket => 1);
my $n = 250;
my $big = 'a' x 4000;

my $nginx = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis unix:$redis->{unixsocket} timeout=20s connect_timeout=20s;
    session_cookie sid secure=off;

    server {
        listen 127.0.0.1:\$PORT;

        location = /login {
            session_issue on;
            proxy_buffer_size 16k;
            proxy_buffers 4 16k;
            proxy_busy_buffers_size 16k;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /backend/login {
            add_header X-Session-Subject \$arg_user;
            add_header X-Session-Claims "big=$big";
            return 204;
        }
        location /app {
            session_required on;
            proxy_set_header X-User \$session_user;
            proxy_set_header X-Big \$session_claim_big;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /echo {
            return 200 "user=[\$http_x_user] claim=\$http_x_big\\n";
        }
    }
HTTP
my $port = $nginx->{port};

# the link is up and its scripts are loaded
my $r;
for (1 .. 50 * SessionTest::slow()) {
    $r = http_request($port, 'GET /login?user=warmup');
    last if $r->{status} == 204;
    sleep 0.1;
}
is($r->{status}, 204, 'a login before the test');

my $pidfile = "$redis->{dir}/redis.pid";
open my $fh, '<', $pidfile or die "$pidfile: $!";
chomp(my $rpid = <$fh>);
close $fh;

kill 'STOP', $rpid;
my $t0 = time;
my @st;
my $resumer = fork // die "fork: $!";
if ($resumer == 0) {
    # let every request reach the worker and its command pile up
    sleep 1.5;
    kill 'CONT', $rpid;
    POSIX::_exit(0);
}
@st = SessionTest::parallel_requests($port, $n, 'GET /login?user=bp', {},
                                     30 * SessionTest::slow());
waitpid $resumer, 0;
kill 'CONT', $rpid;
my $took = time - $t0;

my %count;
$count{$_}++ for @st;
is($count{204} // 0, $n,
   "all $n logins held during the stop got their session: "
   . join(', ', map { "$_ x $count{$_}" } sort keys %count));
ok($took >= 1.4, sprintf('... and waited for Redis (%.1f s)', $took));

# every session of the burst exists in Redis with its claims
my $records = redis_cli($redis, 'EVAL',
    'local n = 0 for _, k in ipairs(redis.call("KEYS", "session:s:*")) do '
    . 'if redis.call("HGET", k, "sub") == "bp" then n = n + 1 end end '
    . 'return n', 0);
is($records, $n, "$n session records for the burst in Redis");

# and a cookie from after the burst works, claims included
my $login = http_request($port, 'GET /login?user=after');
my $cookie = SessionTest::set_cookie($login, 'sid');
ok($cookie, 'a login after the burst');
is(http_request($port, 'GET /app', { Cookie => "sid=$cookie" })->{body},
   "user=[after] claim=$big\n",
   '... and its session, with the 4 KB claim');

my $log = SessionTest::error_log($nginx);
unlike($log, qr/session \S+ \S+ (unavailable|connection restored)/,
       'the Redis link was never dropped');
unlike($log, qr/\[(alert|crit|emerg)\]/, 'no alert, crit or emerg');

done_testing();
