# Ending sessions, every cookie of them (issue 11 items 3 and 6, the
# suspected touch-vs-renewal and grace-hop checks; issue 16 item 3):
# - a renewal chain (three logins in one browser: A, B, C) ends at once on
#   logout, logout all, sessionctl revoke and revoke-all, with and without
#   session_cache, on every worker;
# - "X-Session-Logout: all" from a browser without a cookie ends every
#   session of the subject the response names; a logout that cannot be
#   carried out is 503 without a cookie;
# - a response that ends the session sets no session cookie (rotation and
#   renewal re-issue skipped);
# - the touch script leaves a renewed record's grace TTL alone; the grace
#   hop checks that "nx" is the hash of the sealed token.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Time::HiRes qw(sleep);
use IO::Socket::INET;

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};
my $cport = free_port();

my $nginx = nginx_start(workers => 2, http => <<"HTTP");
    session_keys $keys/ring2.keys;
    session_redis 127.0.0.1:$rport timeout=1s;
    session_cookie sid secure=off;
    session_cache zone=sc:1m valid=30s;

    server {
        listen 127.0.0.1:\$PORT;
        session_timeout idle=1h touch=1s;

        location = /login {
            session_issue on grace=30s;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /backend/login {
            add_header X-Session-Subject \$arg_user;
            return 204;
        }
        location = /reset {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/reset\$is_args\$args;
        }
        location = /backend/reset {
            add_header X-Session-Logout all;
            add_header X-Session-Subject \$arg_user;
            return 200 "reset\\n";
        }
        location = /pw-change {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/pw-change;
        }
        location = /backend/pw-change {
            add_header X-Session-Logout all;
            return 200 "changed\\n";
        }
        location = /app-logout {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/app-logout;
        }
        location = /backend/app-logout {
            add_header X-Session-Logout current;
            return 200 "bye\\n";
        }
        location /app/ {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo/;
        }
        location = /logout { session_logout; }
        location = /logout-all { session_logout all; }
        location /echo/ { return 200 "user=[\$http_x_user_id]\\n"; }
    }

    # session_required on for the whole server, the logout included
    server {
        listen 127.0.0.1:$cport;
        session_required on;

        location = /login {
            session_required optional;
            session_issue on grace=30s;
            proxy_pass http://127.0.0.1:$cport/backend/login\$is_args\$args;
        }
        location = /backend/login {
            session_required off;
            add_header X-Session-Subject \$arg_user;
            return 204;
        }
        location = /app-logout {
            session_issue on;
            proxy_pass http://127.0.0.1:$cport/backend/app-logout;
        }
        location = /backend/app-logout {
            session_required off;
            add_header X-Session-Logout current;
            return 200 "bye\\n";
        }
        location = /logout { session_logout; }
        location /app/ { proxy_pass http://127.0.0.1:$cport/echo/; }
        location /echo/ {
            session_required off;
            return 200 "ok\\n";
        }
    }
HTTP
my $port = $nginx->{port};

# one command in Redis's protocol (redis_cli's shell quoting cannot carry
# a Lua script); returns the raw reply
sub resp {
    my @a = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $rport) or die $!;
    print $s join '', "*" . @a . "\r\n",
                      map { '$' . length($_) . "\r\n$_\r\n" } @a;
    my $line = <$s>;
    close $s;
    return $line;
}

sub req {
    my ($p, $path, $cookie, %h) = @_;
    $h{Cookie} = "sid=$cookie" if defined $cookie;
    return http_request($p, "GET $path", \%h);
}

sub login {
    my ($user, $cookie, $p) = @_;
    my $r = req($p // $port, "/login?user=$user", $cookie);
    return set_cookie($r, 'sid');
}

# on every worker, and through the cache: 12 parallel requests each
sub statuses {
    my ($p, @cookies) = @_;
    return [map {
        my @st = parallel_requests($p, 12, 'GET /app/x',
                                   { Cookie => "sid=$_" });
        my %u = map { $_ => 1 } @st;
        join ',', sort keys %u;
    } @cookies];
}

# three logins in one browser, each over the cookie of the one before
sub chain {
    my ($user) = @_;
    my $a = login($user);
    my $b = login($user, $a);
    my $c = login($user, $b);
    die "no chain\n" unless $a && $b && $c && $a ne $b && $b ne $c;
    # every cookie works (A and B in their grace period), and is cached
    return ($a, $b, $c);
}

# under valgrind a worker's first connection to Redis can take seconds:
# wait (bounded) until every worker answers
{
    my $c = login('warmup');
    for (1 .. 60) {
        last if $c && !grep { $_ != 200 }
                        parallel_requests($port, 12, 'GET /app/x',
                                          { Cookie => "sid=$c" });
        sleep 0.5;
        $c ||= login('warmup');
    }
}

# --- the chain itself: A answers for C, the live session
{
    my ($a, $b, $c) = chain('ch0');
    is_deeply(statuses($port, $a, $b, $c), [200, 200, 200],
              'chain: A, B and C all work in the grace period');
    my $r = req($port, '/app/x', $a);
    is(set_cookie($r, 'sid'), $c, 'chain: A is re-issued C, the live one');
    is($r->{body}, "user=[ch0]\n", 'chain: ... for the same subject');
}

# --- logout with C ends A and B as well
{
    my ($a, $b, $c) = chain('ch1');
    is_deeply(statuses($port, $a, $b, $c), [200, 200, 200], 'ch1: live');
    is(req($port, '/logout', $c)->{status}, 204, 'ch1: logout with C');
    is_deeply(statuses($port, $a, $b, $c), [401, 401, 401],
              'ch1: A, B and C all refused after the logout with C');
    is(set_cookie(req($port, '/app/x', $a), 'sid'), undef,
       'ch1: A is not re-issued anything');
}

# --- logout with A (the oldest cookie) ends C as well
{
    my ($a, $b, $c) = chain('ch2');
    is_deeply(statuses($port, $a, $b, $c), [200, 200, 200], 'ch2: live');
    is(req($port, '/logout', $a)->{status}, 204, 'ch2: logout with A');
    is_deeply(statuses($port, $a, $b, $c), [401, 401, 401],
              'ch2: A, B and C all refused after the logout with A');
}

# --- the app's X-Session-Logout: current, with B
{
    my ($a, $b, $c) = chain('ch3');
    is_deeply(statuses($port, $a, $b, $c), [200, 200, 200], 'ch3: live');
    is(req($port, '/app-logout', $b)->{status}, 200, 'ch3: app logout');
    is_deeply(statuses($port, $a, $b, $c), [401, 401, 401],
              'ch3: A, B and C all refused');
}

# --- logout all, from another browser of the subject
{
    my ($a, $b, $c) = chain('ch4');
    my $d = login('ch4');
    is_deeply(statuses($port, $a, $b, $c, $d), [200, 200, 200, 200],
              'ch4: live');
    is(req($port, '/logout-all', $d)->{status}, 204, 'ch4: logout all');
    is_deeply(statuses($port, $a, $b, $c, $d), [401, 401, 401, 401],
              'ch4: the whole chain and the other browser refused');
}

# --- sessionctl revoke-all and revoke
{
    my ($a, $b, $c) = chain('ch5');
    is_deeply(statuses($port, $a, $b, $c), [200, 200, 200], 'ch5: live');
    my ($out, $rc) = sessionctl('--redis', "127.0.0.1:$rport",
                                'revoke-all', 'ch5');
    is($rc, 0, 'ch5: sessionctl revoke-all');
    is_deeply(statuses($port, $a, $b, $c), [401, 401, 401],
              'ch5: A, B and C refused after revoke-all');

    ($a, $b, $c) = chain('ch6');
    is_deeply(statuses($port, $a, $b, $c), [200, 200, 200], 'ch6: live');
    ($out, $rc) = sessionctl('--keys', "$keys/ring2.keys",
                             '--redis', "127.0.0.1:$rport", 'revoke', $a);
    is($rc, 0, 'ch6: sessionctl revoke A');
    is_deeply(statuses($port, $a, $b, $c), [401, 401, 401],
              'ch6: A, B and C refused after revoking A');
}

# --- X-Session-Logout: all + X-Session-Subject from a fresh browser
{
    my $b1 = login('bob');
    my $b2 = login('bob');
    my ($ba, $bb, $bc) = chain('bob');
    my $other = login('carol');
    is_deeply(statuses($port, $b1, $b2, $ba, $bc, $other),
              [200, 200, 200, 200, 200], 'reset: live');
    my $r = req($port, '/reset?user=bob');
    is($r->{status}, 200, 'reset: the app\'s answer passes');
    my $new = set_cookie($r, 'sid');
    ok($new, 'reset: the browser is logged in again');
    is_deeply(statuses($port, $b1, $b2, $ba, $bb, $bc),
              [401, 401, 401, 401, 401],
              'reset from a fresh browser: every older session of bob ends');
    is_deeply(statuses($port, $new, $other), [200, 200],
              'reset: the new session and other subjects stay');
}

# --- logout all + subject from a browser of another subject: both end
{
    my $m = login('mallory');
    my $b = login('bob2');
    my $r = req($port, '/reset?user=bob2', $m);
    is($r->{status}, 200, 'reset over another subject\'s session');
    my $new = set_cookie($r, 'sid');
    is_deeply(statuses($port, $m, $b, $new), [401, 401, 200],
              'the request\'s own session and bob2\'s older one end');
}

# --- the re-issue must not run on a response that ends the session
{
    my $k1 = sessionctl('--keys', "$keys/ring1.keys",
                        '--redis', "127.0.0.1:$rport", 'create', 'rot');
    like($k1, qr/^k1\./, 'a cookie of the older key');
    my $r = req($cport, '/app/x', $k1);
    like(set_cookie($r, 'sid') // '', qr/^k2\./,
         'a plain request re-issues it under k2');
    $r = req($cport, '/logout', $k1);
    is($r->{status}, 204, 'logout under server-wide session_required: 204');
    is_deeply([grep { /^sid=/ } @{ $r->{headers}{'set-cookie'} // [] }],
              [grep { /^sid=;/ } @{ $r->{headers}{'set-cookie'} // [] }],
              'logout: only the removal of the cookie, no re-issue');
    is(scalar(grep { /^sid=/ } @{ $r->{headers}{'set-cookie'} // [] }), 1,
       'logout: exactly one Set-Cookie for sid');

    # a renewed cookie (grace period) logging out
    my $a = login('ren', undef, $cport);
    my $b = login('ren', $a, $cport);
    $r = req($cport, '/logout', $a);
    is($r->{status}, 204, 'logout with a renewed cookie: 204');
    is_deeply([@{ $r->{headers}{'set-cookie'} // [] }] > 0
              ? [map { /^sid=([^;]*)/ ? $1 : () }
                 @{ $r->{headers}{'set-cookie'} }] : [],
              [''], 'logout with a renewed cookie: only sid= (removal)');
    is_deeply(statuses($cport, $a, $b), [401, 401], '... both ended');

    # the app's logout over an older key's cookie
    $k1 = sessionctl('--keys', "$keys/ring1.keys",
                     '--redis', "127.0.0.1:$rport", 'create', 'rot2');
    $r = req($cport, '/app-logout', $k1);
    is($r->{status}, 200, 'app logout with a k1 cookie: 200');
    is_deeply([map { /^sid=([^;]*)/ ? $1 : () }
               @{ $r->{headers}{'set-cookie'} // [] }],
              [''], 'app logout: only the removal of the cookie');
}

# --- the grace hop checks that nx is the hash of the sealed token
{
    my $a = login('victim-of-nx');
    my $b = login('victim-of-nx', $a);
    my $m = login('mallory-nx');
    my ($mh) = split /\n/, redis_cli($redis, 'SMEMBERS',
                                     'session:u:mallory-nx');
    # find A's record: the one whose nx is set
    my $arec;
    for my $k (split /\n/, redis_cli($redis, 'KEYS', 'session:s:*')) {
        my $nx = redis_cli($redis, 'HGET', $k, 'nx');
        my $sub = redis_cli($redis, 'HGET', $k, 'sub');
        $arec = $k if $sub eq 'victim-of-nx' && $nx =~ /^[0-9a-f]{64}$/;
    }
    ok($arec && $mh, 'a renewed record and another session');
    redis_cli($redis, 'HSET', $arec, 'nx', $mh);
    is(relk($redis, $arec), '1', 'and in its "lk"');
    my $r = req($port, '/app/x', $a);
    is($r->{status}, 401, 'nx pointing elsewhere than the sealed token: 401');
    unlike($r->{body}, qr/mallory/, '... never the other session');
    is(set_cookie($r, 'sid'), undef, '... and no cookie');
    is(req($port, '/app/x', $b)->{status}, 200, 'B itself still works');
}

# --- the touch script leaves a renewed record's grace TTL alone
{
    open my $fh, '<', "$FindBin::Bin/../src/session_store.h" or die $!;
    my $h = do { local $/; <$fh> };
    my ($body) = $h =~ /#define SS_SCRIPT_TOUCH\s+\\\n(.*?)\n\n/s;
    my $script = join '', map { eval $_ } $body =~ /("(?:[^"\\]|\\.)*")/g;
    like($script, qr/EXPIRE/, 'the touch script, from session_store.h');

    my $a = login('touchy');
    my $b = login('touchy', $a);
    my $arec;
    for my $k (split /\n/, redis_cli($redis, 'KEYS', 'session:s:*')) {
        $arec = $k if redis_cli($redis, 'HGET', $k, 'sub') eq 'touchy'
                      && redis_cli($redis, 'HGET', $k, 'nx') ne '';
    }
    ok($arec, 'the renewed record');
    my @lk = unpack_lk(redis_cli($redis, 'HGET', $arec, 'lk'));
    is_deeply([@lk[5, 6]], [redis_cli($redis, 'HGET', $arec, 'nx'),
                            redis_cli($redis, 'HGET', $arec, 'nt')],
              'its "lk" carries the renewal (nx, nt)');
    my $ttl = redis_cli($redis, 'TTL', $arec);
    ok($ttl > 0 && $ttl <= 30, "its TTL is the grace period ($ttl)");
    # the touch a lookup sent just before the renewal, arriving after it
    my $rep = resp('EVAL', $script, 1, $arec, time, 3600);
    is($rep, ":1\r\n", 'the touch script ran');
    $ttl = redis_cli($redis, 'TTL', $arec);
    ok($ttl > 0 && $ttl <= 30, "a late touch leaves it at most grace ($ttl)");
}

# --- a logout that cannot be carried out: 503, no cookie
{
    my $p = login('down');
    is(req($port, '/app/x', $p)->{status}, 200, 'down: live');
    # writes wait (longer than both requests' timeouts), reads go on
    redis_cli($redis, 'CLIENT', 'PAUSE', 30000, 'WRITE');
    my $r = req($port, '/logout', $p);
    is($r->{status}, 503, 'session_logout, redis not confirming: 503');
    is(set_cookie($r, 'sid'), undef, '... and no cookie');
    $r = req($port, '/pw-change', $p);
    is($r->{status}, 503, 'X-Session-Logout, redis not confirming: 503');
    is(set_cookie($r, 'sid'), undef, '... and no cookie');
    redis_cli($redis, 'CLIENT', 'UNPAUSE');

    redis_stop($redis);
    $r = req($port, '/pw-change', $p);
    is($r->{status}, 503, 'X-Session-Logout all, redis down: 503');
    is(set_cookie($r, 'sid'), undef, '... and no cookie');
    $r = req($port, '/reset?user=down');
    is($r->{status}, 503, 'reset from a fresh browser, redis down: 503');
    is(set_cookie($r, 'sid'), undef, '... and no cookie');
}

done_testing();
