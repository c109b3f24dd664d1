# The session lifecycle at the edge, acted out on one nginx with 4 workers
# and a private Redis: login hand-off, the parallel-request race after
# login and after logout, renewal with a grace period, logout (one and
# all), X-Session-Logout, claims, rotation re-issue, idle and absolute
# timeouts with throttled touches, headers stripped outside session_issue,
# and survival of nginx and Redis restarts.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Time::HiRes qw(time sleep);

my $keys = test_keys_dir();
my $redis_dir = File::Temp::tempdir(CLEANUP => 1);
my $redis = redis_start(appendonly => 1, dir => $redis_dir);
my $rport = $redis->{port};
my $short = free_port();

my $nginx = nginx_start(workers => 4, http => <<"HTTP");
    session_keys $keys/ring2.keys;
    session_redis 127.0.0.1:$rport timeout=1s;
    session_cookie sid secure=off;

    server {
        listen 127.0.0.1:\$PORT;

        location = /login {
            session_issue on grace=2s;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /backend/login {
            add_header X-Session-Subject \$arg_user;
            add_header X-Session-Claims "role=\$arg_role; name=\$arg_name";
            add_header Set-Cookie "app=1; Path=/";
            return 302 /dashboard;
        }
        location = /pw-change {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/pw-change;
        }
        location = /backend/pw-change {
            add_header X-Session-Logout all;
            return 200 "password changed\\n";
        }
        location = /docs {
            proxy_pass http://127.0.0.1:\$PORT/backend/evil;
        }
        location = /backend/evil {
            add_header X-Session-Subject admin;
            return 200 "docs\\n";
        }
        location /app/ {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_set_header X-Role \$session_claim_role;
            proxy_pass http://127.0.0.1:\$PORT/echo/;
        }
        location /admin/ {
            session_required on;
            session_require_claim role admin owner;
            proxy_pass http://127.0.0.1:\$PORT/echo/;
        }
        location = /logout { session_logout; }
        location = /logout-all { session_logout all redirect=/bye; }
        location /echo/ {
            return 200 "user=[\$http_x_user_id] role=[\$http_x_role]\\n";
        }
    }

    server {
        listen 127.0.0.1:$short;
        session_timeout idle=2s absolute=5s touch=1s;

        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:$short/backend/login\$is_args\$args;
        }
        location = /backend/login {
            add_header X-Session-Subject \$arg_user;
            return 204;
        }
        location /app/ {
            session_required on;
            proxy_pass http://127.0.0.1:$short/echo/;
        }
        location /echo/ { return 200 "ok\\n"; }
    }
HTTP
my $port = $nginx->{port};

sub req {
    my ($p, $path, $cookie, %h) = @_;
    $h{Cookie} = "sid=$cookie" if defined $cookie;
    return http_request($p, "GET $path", \%h);
}

sub login {
    my ($user, %o) = @_;
    my $q = "/login?user=$user&role=" . ($o{role} // '')
            . "&name=" . ($o{name} // '');
    my $r = req($o{port} // $port, $q, $o{cookie});
    return ($r, set_cookie($r, 'sid'));
}

# --- login hand-off
my ($r, $c42) = login(42, role => 'admin', name => 'Ann%20Lee');
is($r->{status}, 302, 'login: the app\'s 302 reaches the client');
is($r->{headers}{location}[0] =~ m{/dashboard$} ? 1 : 0, 1,
   'login: the app\'s Location is kept');
ok(defined $c42 && $c42 =~ /^k2\./, 'login: cookie set, signed with k2');
ok(!exists $r->{headers}{'x-session-subject'}
   && !exists $r->{headers}{'x-session-claims'},
   'login: X-Session-* removed from the response');
ok((grep { /^app=1/ } @{ $r->{headers}{'set-cookie'} }),
   'login: the app\'s own cookie is kept');
my ($sc) = grep { /^sid=/ } @{ $r->{headers}{'set-cookie'} };
like($sc, qr/; Path=\/; HttpOnly; SameSite=Lax$/,
     'login: cookie attributes');

$r = req($port, '/app/x', $c42);
is($r->{status}, 200, 'next request: 200');
is($r->{body}, "user=[42] role=[admin]\n", 'upstream sees subject and claim');

# --- claims
is(req($port, '/admin/', $c42)->{status}, 200, 'require_claim: admin passes');
my (undef, $c7) = login(7, role => 'viewer');
is(req($port, '/admin/', $c7)->{status}, 403, 'require_claim: viewer 403');
my (undef, $c8) = login(8, role => 'owner');
is(req($port, '/admin/', $c8)->{status}, 200,
   'require_claim: any listed value passes');

# --- headers outside session_issue are stripped and mint nothing
$r = req($port, '/docs');
is($r->{status}, 200, 'docs: 200');
ok(!defined set_cookie($r, 'sid'), 'docs: no session minted');
ok(!exists $r->{headers}{'x-session-subject'}, 'docs: header stripped');
like(SessionTest::error_log($nginx),
     qr/\[warn\].*X-Session-\* headers in a location without/,
     'docs: logged at warn');

# --- the race after login: 4 workers, 50 parallel requests, 100 times
my $bad = 0;
for my $i (1 .. 100) {
    my (undef, $c) = login("race$i", role => 'x');
    my @st = parallel_requests($port, 50, 'GET /app/r',
                               { Cookie => "sid=$c" });
    $bad += grep { $_ != 200 } @st;
}
is($bad, 0, 'race: 100 logins x 50 parallel requests, all 200');

# --- logout, then 50 parallel requests with the old cookie
my (undef, $cl) = login('leaver');
is(req($port, '/app/', $cl)->{status}, 200, 'before logout: 200');
$r = req($port, '/logout', $cl);
is($r->{status}, 204, 'logout: 204');
is(set_cookie($r, 'sid'), '', 'logout: cookie expired');
like(join(' ', @{ $r->{headers}{'set-cookie'} }), qr/Max-Age=0/,
     'logout: Max-Age=0');
my @st = parallel_requests($port, 50, 'GET /app/', { Cookie => "sid=$cl" });
is(scalar(grep { $_ == 401 } @st), 50,
   'after logout: 50 parallel requests with the old cookie, all 401');

# --- re-login over a live session: grace period
my (undef, $old) = login('renew', role => 'a');
($r, my $new) = login('renew', role => 'b', cookie => $old);
ok($new && $new ne $old, 're-login: a new cookie');
$r = req($port, '/app/', $old);
is($r->{status}, 200, 'grace: the old cookie still works');
is($r->{body}, "user=[renew] role=[b]\n",
   'grace: ... and resolves to the new session');
is(set_cookie($r, 'sid'), $new, 'grace: ... and gets the new cookie');
is(req($port, '/app/', $new)->{status}, 200, 'grace: the new cookie works');
sleep 2.5;
is(req($port, '/app/', $old)->{status}, 401,
   'after the grace period the old cookie is gone');
is(req($port, '/app/', $new)->{status}, 200, '... the new one stays');

# --- logout everywhere
my (undef, $a1) = login('multi');
my (undef, $a2) = login('multi');
my (undef, $a3) = login('multi');
$r = req($port, '/logout-all', $a1);
is($r->{status}, 303, 'logout all: 303');
like($r->{headers}{location}[0], qr{/bye$}, 'logout all: to the redirect');
is_deeply([map { req($port, '/app/', $_)->{status} } $a1, $a2, $a3],
          [401, 401, 401], 'logout all: every session of the subject ends');
is(req($port, '/app/', $c42)->{status}, 200,
   'logout all: other subjects untouched');

# --- X-Session-Logout from the app
my (undef, $p1) = login('pw');
my (undef, $p2) = login('pw');
$r = req($port, '/pw-change', $p1);
is($r->{status}, 200, 'X-Session-Logout: the app\'s response passes');
is($r->{body}, "password changed\n", '... with its body');
is(set_cookie($r, 'sid'), '', '... and the cookie expired');
is_deeply([map { req($port, '/app/', $_)->{status} } $p1, $p2],
          [401, 401], '... every session of the subject ended');

# --- rotation: a cookie of the second key is accepted and re-issued
my $ck1 = sessionctl('--keys', "$keys/ring1.keys",
                     '--redis', "127.0.0.1:$rport", 'create', 'rotated');
like($ck1, qr/^k1\./, 'a cookie signed with k1 (now second in the ring)');
$r = req($port, '/app/', $ck1);
is($r->{status}, 200, 'rotation: accepted');
my $reissued = set_cookie($r, 'sid');
like($reissued // '', qr/^k2\./, 'rotation: re-issued with k2');
is(req($port, '/app/', $reissued)->{body}, "user=[rotated] role=[]\n",
   'rotation: same session under the new key');
$r = req($port, '/app/', $reissued);
ok(!defined set_cookie($r, 'sid'), 'rotation: a current cookie is not re-set');

# --- timeouts (server with idle=2s absolute=5s touch=1s)
redis_cli($redis, 'CONFIG', 'RESETSTAT');
my (undef, $idle) = login('idle', port => $short);
my (undef, $busy) = login('busy', port => $short);
ok($idle && $busy, 'timeouts: two sessions');
my @busy;
my $t0 = time;
while (time - $t0 < 3.5) {
    push @busy, req($short, '/app/', $busy)->{status};
    sleep 0.1;
}
is(scalar(grep { $_ != 200 } @busy), 0,
   'idle timeout slides: a used session lives past idle=2s');
is(req($short, '/app/', $idle)->{status}, 401,
   'idle timeout: an unused session expired');
my ($hset) = redis_cli($redis, 'INFO', 'commandstats')
             =~ /cmdstat_hset:calls=(\d+)/;
# two HSETs per login and per touch: the fields, then "lk" (SS_LUA_LK_FN)
my $touches = (($hset // 0) - 4) / 2;
ok($touches >= 2 && $touches <= 5,
   "touch throttled: $touches writes for " . scalar(@busy)
   . ' requests in 3.5 s (touch=1s)');
sleep(5.3 - (time - $t0));
is(req($short, '/app/', $busy)->{status}, 401,
   'absolute timeout ends a used session');

# --- restarts: nginx stop/start, Redis restart with AOF
my (undef, $keep) = login('keeper', role => 'r');
SessionTest::nginx_restart($nginx);
is(req($port, '/app/', $keep)->{status}, 200,
   'nginx stopped and started: still logged in');
redis_cli($redis, 'BGREWRITEAOF');
sleep 0.3;
redis_stop($redis);
$redis = redis_start(port => $rport, appendonly => 1, dir => $redis_dir);
my $ok;
for (1 .. 40) {
    $r = req($port, '/app/', $keep);
    last if ($ok = $r->{status} == 200);
    sleep 0.1;
}
ok($ok, 'Redis restarted (AOF): still logged in');
is($r->{body}, "user=[keeper] role=[r]\n", '... same subject and claims');

unlike(SessionTest::error_log($nginx), qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in the error log');

done_testing();
