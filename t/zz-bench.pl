# throwaway: nginx -> single Redis vs nginx -> 3-master cluster, lookups of
# N random sessions, one worker, wrk; not part of the suite
use strict; use warnings;
use FindBin; use lib "$FindBin::Bin/lib";
use SessionTest; use RedisCluster; use Time::HiRes qw(sleep);
my $keys = test_keys_dir();
my $N = $ENV{N} // 2000;
my $redis = redis_start();
my $c = cluster_start(masters => 3, replicas => 0);
my $seeds = 'cluster=' . join ',', map { "127.0.0.1:$_" } @{$c->{ports}};
sub edge {
    my ($store) = @_;
    nginx_start(workers => 1, log_level => 'warn', http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis $store prefix=b: timeout=2s;
    session_cookie sid secure=off;
    server {
        listen 127.0.0.1:\$PORT;
        access_log off;
        location = /login { session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args; }
        location = /backend/login { add_header X-Session-Subject \$arg_user; return 302 /p; }
        location /p { session_required on; root /tmp/lb; }
    }
HTTP
}
open my $f, '>', '/tmp/lb/p' or die; print $f "ok\n"; close $f;
my %e = (single => edge("127.0.0.1:$redis->{port}"), cluster => edge($seeds));
for my $k (sort keys %e) {
    my @ck;
    for my $i (1 .. $N) {
        my $r = http_request($e{$k}{port}, "GET /login?user=u$i");
        push @ck, set_cookie($r, 'sid');
    }
    open my $l, '>', "/tmp/lb/$k.lua";
    print $l "local c = {\n", (map { "\"$_\",\n" } @ck), "}\n",
      "math.randomseed(os.time())\nrequest = function()\n",
      "  return wrk.format('GET', '/p', { Cookie = 'sid=' .. c[math.random(#c)] })\nend\n";
    close $l;
}
for my $round (1 .. 6) {
    for my $k (qw(single cluster)) {
        my $o = `wrk -t1 -c32 -d4s -s /tmp/lb/$k.lua http://127.0.0.1:$e{$k}{port}/p 2>&1`;
        my ($rps) = $o =~ /Requests\/sec:\s+([\d.]+)/;
        my ($non) = $o =~ /Non-2xx or 3xx responses: (\d+)/;
        printf "round %d %-8s %8.0f req/s%s\n", $round, $k, $rps // 0,
            $non ? " non-2xx $non" : '';
    }
}
