# session_metrics: Prometheus text format, counters aggregated across
# workers in shared memory, moving with validations, logins, logouts,
# cache hits and Redis commands.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Time::HiRes qw(sleep);

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};

my $nginx = nginx_start(workers => 2, http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;
    session_cache zone=sess:1m valid=5s;

    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /echo { return 200 "ok\\n"; }
        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend;
        }
        location = /backend {
            add_header X-Session-Subject m1;
            return 204;
        }
        location = /logout { session_logout; }
        location = /metrics { session_metrics; }
    }
HTTP
my $port = $nginx->{port};

sub scrape {
    my $r = http_request($port, 'GET /metrics');
    my %m;
    for (split /\n/, $r->{body}) {
        next if /^#/;
        my ($k, $v) = /^(\S+) (\S+)$/ or next;
        $m{$k} = $v;
    }
    return ($r, \%m);
}

sub delta {
    my ($a, $b, $k) = @_;
    return ($b->{$k} // 0) - ($a->{$k} // 0);
}

# both workers connected (slower under valgrind)
my ($r, $m0);
for (1 .. 50 * SessionTest::slow()) {
    ($r, $m0) = scrape();
    last if ($m0->{'nginx_session_redis_connections'} // 0) == 4;
    sleep 0.1;
}
is($r->{status}, 200, 'metrics: 200');
like($r->{headers}{'content-type'}[0], qr{^text/plain; version=0\.0\.4},
     'metrics: Prometheus content type');
like($r->{body}, qr/^# TYPE nginx_session_validations_total counter$/m,
     'metrics: TYPE lines');
is($m0->{'nginx_session_redis_connections'}, 4,
   'two workers, a command and a subscriber link each');

my $login = http_request($port, 'GET /login');
my $c = set_cookie($login, 'sid');
ok($c, 'logged in');
http_request($port, 'GET /p') for 1 .. 3;                      # missing
http_request($port, 'GET /p', { Cookie => "sid=$c" }) for 1 .. 10;
http_request($port, 'GET /p', { Cookie => 'sid=k1.x.y' }) for 1 .. 2;
http_request($port, 'POST /logout', { Cookie => "sid=$c" });
http_request($port, 'GET /p', { Cookie => "sid=$c" });         # unknown

my (undef, $m1) = scrape();
is(delta($m0, $m1, 'nginx_session_validations_total{status="missing"}'), 4,
   'missing counted (3 requests, and the login, which looks too)');
is(delta($m0, $m1, 'nginx_session_validations_total{status="ok"}'), 10,
   'ok counted (across both workers)');
is(delta($m0, $m1, 'nginx_session_validations_total{status="invalid"}'), 2,
   'invalid counted');
is(delta($m0, $m1, 'nginx_session_validations_total{status="unknown"}'), 1,
   'unknown counted');
is(delta($m0, $m1, 'nginx_session_logins_total{result="ok"}'), 1,
   'login counted');
is(delta($m0, $m1, 'nginx_session_logouts_total'), 1, 'logout counted');
ok(delta($m0, $m1, 'nginx_session_cache_hits_total') >= 8,
   'cache hits counted');
ok(delta($m0, $m1, 'nginx_session_redis_command_duration_seconds_count')
   >= 3, 'Redis latency histogram moved');
is($m1->{'nginx_session_redis_command_duration_seconds_bucket{le="+Inf"}'},
   $m1->{'nginx_session_redis_command_duration_seconds_count'},
   'histogram +Inf bucket equals the count');

redis_stop($redis);
http_request($port, 'GET /p', { Cookie => "sid=$c" }) for 1 .. 2;
my (undef, $m2) = scrape();
is(delta($m1, $m2, 'nginx_session_validations_total{status="error"}'), 2,
   'Redis down: errors counted');
# every link notices the closed socket on its own (slower under valgrind)
for (1 .. 50 * SessionTest::slow()) {
    last if ($m2->{'nginx_session_redis_connections'} // -1) == 0;
    sleep 0.1;
    (undef, $m2) = scrape();
}
is($m2->{'nginx_session_redis_connections'}, 0, 'no Redis connection left');

done_testing();
