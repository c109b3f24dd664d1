# Sessions users can see and end (issue 15 items 1-4, 7):
# - the metadata stored at login (public id, client address or
#   session_client_address, User-Agent cut at 256 bytes, "via");
# - session_list: the caller's sessions as JSON, newest first, the current
#   one marked, a renewal chain listed once; no token, hash or cookie;
#   401 without a session, 405 for POST, Cache-Control: no-store;
# - session_revoke: POST id= (form or JSON) ends one of the caller's
#   sessions, refused at once on every worker with session_cache on; 404
#   for an id of another subject or one already ended; 405 for GET;
# - session_limit: evict_oldest and refuse, and 20 parallel logins of one
#   subject on 2 workers leave exactly max sessions;
# - the metrics of the above.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use JSON::PP;
use Time::HiRes qw(sleep);

my $keys = test_keys_dir();
my $secrets = "$FindBin::Bin/secrets";
my $redis = redis_start();
my $rport = $redis->{port};
my $xport = free_port();

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
        location = /login-limit {
            session_issue on;
            session_limit max=2;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /login-refuse {
            session_issue on;
            session_limit max=2 over=refuse;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /login-3 {
            session_issue on;
            session_limit max=3;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /login-3r {
            session_issue on;
            session_limit max=3 over=refuse;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /backend/login {
            add_header X-Session-Subject \$arg_user;
            return 204;
        }
        location /app/ {
            session_required on;
            proxy_set_header X-Id \$session_id;
            proxy_pass http://127.0.0.1:\$PORT/echo/;
        }
        location = /tg {
            session_telegram bot_token_file=$secrets/bot.token max_age=30y login=on;
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/echo/;
        }
        location = /sessions { session_list; }
        location = /sessions/revoke { session_revoke; }
        location = /csrf/revoke { session_csrf on; session_revoke; }
        location = /metrics { session_metrics; }
        location /echo/ { return 200 "id=[\$http_x_id]\\n"; }
    }

    # behind another proxy: the address from X-Real-IP
    server {
        listen 127.0.0.1:$xport;
        session_client_address \$http_x_real_ip;

        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:$xport/backend/login\$is_args\$args;
        }
        location = /backend/login {
            add_header X-Session-Subject \$arg_user;
            return 204;
        }
        location = /sessions { session_list; }
    }
HTTP
my $port = $nginx->{port};

sub req {
    my ($p, $line, $cookie, $body, %h) = @_;
    $h{Cookie} = "sid=$cookie" if defined $cookie;
    return http_request($p, $line, \%h, $body);
}

sub login {
    my ($user, %o) = @_;
    my $r = req($o{port} // $port, "GET " . ($o{path} // '/login')
                . "?user=$user", $o{cookie}, undef,
                'User-Agent' => $o{ua} // "agent-$user",
                %{ $o{headers} // {} });
    return wantarray ? (set_cookie($r, 'sid'), $r) : set_cookie($r, 'sid');
}

sub list {
    my ($cookie, $p) = @_;
    my $r = req($p // $port, 'GET /sessions', $cookie);
    my $j = eval { decode_json($r->{body}) };
    return ($j, $r);
}

sub sid_of {
    my ($cookie) = @_;
    my ($id) = req($port, 'GET /app/x', $cookie)->{body} =~ /id=\[(\w+)\]/;
    return $id;
}

# on every worker, through the cache: the distinct statuses
sub statuses {
    my ($cookie) = @_;
    my %u = map { $_ => 1 }
            parallel_requests($port, 12, 'GET /app/x',
                              { Cookie => "sid=$cookie" });
    return join ',', sort keys %u;
}

sub revoke {
    my ($cookie, $body, $type) = @_;
    return req($port, 'POST /sessions/revoke', $cookie, $body,
               'Content-Type' => $type
                                 // 'application/x-www-form-urlencoded');
}

sub metric {
    my ($name) = @_;
    my $b = req($port, 'GET /metrics')->{body};
    return $b =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

# every worker reached Redis (the harness waited), and caches the cookie
{
    my $c = login('warmup');
    for (1 .. 40) {
        last if $c && statuses($c) eq '200';
        sleep 0.25;
    }
}

# --- metadata and the list
my ($a1, $b1);
{
    $a1 = login('alice', ua => 'Firefox "A" 1.0');
    sleep 1.1;    # a different "created"
    my ($c, $r) = login('alice', ua => "Chrome\x01B\xff\xc3(");
    $b1 = $c;
    ok($a1 && $b1, 'two logins of alice');

    my ($j, $lr) = list($a1);
    is($lr->{status}, 200, 'list: 200');
    is($lr->{headers}{'content-type'}[0], 'application/json',
       'list: application/json');
    like(join(',', @{ $lr->{headers}{'cache-control'} // [] }),
         qr/no-store/, 'list: Cache-Control no-store');
    ok($j, 'list: valid JSON (control and invalid bytes escaped)')
        or diag $lr->{body};
    is($j->{subject}, 'alice', 'list: subject');
    is(scalar @{ $j->{sessions} }, 2, 'list: two sessions');
    my ($s0, $s1) = @{ $j->{sessions} };
    is($s0->{id}, sid_of($b1), 'list: newest first, id = $session_id');
    is($s1->{id}, sid_of($a1), 'list: the older one second');
    ok(!$s0->{current} && $s1->{current}, 'list: the caller is current');
    is($s1->{user_agent}, 'Firefox "A" 1.0', 'list: user agent');
    is($s0->{user_agent}, "Chrome\x{1}B\x{fffd}\x{fffd}(",
       'list: control byte kept escaped, invalid bytes U+FFFD');
    is($s1->{ip}, '127.0.0.1', 'list: ip is $remote_addr by default');
    is($s1->{via}, 'login', 'list: via login');
    ok($s1->{created} <= $s0->{created} && $s1->{created} > time - 60,
       'list: created');
    ok($s1->{last_seen} >= $s1->{created}, 'list: last_seen');
    is_deeply([sort keys %$s0],
              [sort qw(id created last_seen ip user_agent via current)],
              'list: exactly the documented fields');

    # nothing that leads to a cookie or a Redis key
    my @hashes = map { /s:([0-9a-f]{64})$/ ? $1 : () }
                 split /\n/, redis_cli($redis, 'KEYS', 'session:s:*');
    ok(@hashes >= 2, 'redis holds the records');
    ok(!(grep { index($lr->{body}, $_) >= 0 } @hashes),
       'list: no hash in the answer');
    ok(index($lr->{body}, $a1) < 0 && index($lr->{body}, $b1) < 0,
       'list: no cookie value in the answer');
    unlike(redis_cli($redis, 'KEYS', "*$s1->{id}*"), qr/\S/,
           'the public id is no part of any key');

    # C1 and bidi controls escaped as sessionctl escapes them
    my $ce = login('eve', ua => "x\xc2\x9by\xe2\x80\xaez");
    my (undef, $er) = list($ce);
    like($er->{body}, qr/"user_agent":"x\\u009by\\u202ez"/,
         'list: C1 and bidi controls as \\u escapes');

    my ($j2) = list($b1);
    ok($j2->{sessions}[0]{current} && !$j2->{sessions}[1]{current},
       'list from the other browser: its own is current');
}

# --- list: refused without a session, method
{
    my (undef, $r) = list(undef);
    is($r->{status}, 401, 'list without a session: 401');
    like(join(',', @{ $r->{headers}{'cache-control'} // [] }),
         qr/no-store/, '... no-store');
    is(req($port, 'GET /sessions', 'garbage')->{status}, 401,
       'list with a bad cookie: 401');
    is(req($port, 'POST /sessions', $a1, '')->{status}, 405,
       'list: POST is 405');
}

# --- a long User-Agent is cut at 256 bytes; another address source
{
    my $c = login('ua', ua => 'x' x 1000);
    my ($j) = list($c);
    is(length $j->{sessions}[0]{user_agent}, 256, 'User-Agent cut at 256');

    $c = login('ua2', ua => ('x' x 255) . "\x{e9}" x 0 . "\xc3\xa9z");
    ($j) = list($c);
    is($j->{sessions}[0]{user_agent}, 'x' x 255,
       'User-Agent cut before a split UTF-8 sequence');

    $c = login('px', port => $xport, headers => { 'X-Real-IP' => '203.0.113.9' });
    ($j) = list($c, $xport);
    is($j->{sessions}[0]{ip}, '203.0.113.9', 'session_client_address');

    my $h = redis_cli($redis, 'SMEMBERS', 'session:u:px');
    is(redis_cli($redis, 'HMGET', "session:s:$h", 'ip', 'via', 'pid'),
       "203.0.113.9\nlogin\n" . $j->{sessions}[0]{id},
       'the metadata in the record');
}

# --- a Telegram login says so
{
    my $init = 'user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22en%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%7D&chat_instance=-3788475317572404878&chat_type=private&auth_date=1709144340&hash=371697738012ebd26a111ace4aff23ee265596cd64026c8c3677956a85ca1827';
    my $r = req($port, 'GET /tg', undef, undef,
                Authorization => "tma $init", 'User-Agent' => 'TelegramBot');
    my $c = set_cookie($r, 'sid');
    ok($c, 'telegram: a session');
    my ($j) = list($c);
    is($j->{subject}, 'tg:279058397', 'telegram: the subject');
    is($j->{sessions}[0]{via}, 'telegram', 'telegram: via telegram');
    is($j->{sessions}[0]{user_agent}, 'TelegramBot', 'telegram: user agent');
}

# --- a renewal chain is listed once, as the live session
{
    my $x = login('carol');
    my $y = login('carol', cookie => $x);
    my $z = login('carol', cookie => $y);
    my ($j) = list($x);
    is(scalar @{ $j->{sessions} }, 1, 'chain: listed once');
    is($j->{sessions}[0]{id}, sid_of($z), 'chain: as the live session');
    ok($j->{sessions}[0]{current}, 'chain: current from the oldest cookie');
}

# --- revoke
{
    my $before = metric('nginx_session_revoked_total') // 0;
    my ($j) = list($a1);
    my ($other) = grep { !$_->{current} } @{ $j->{sessions} };
    is(statuses($b1), '200', 'revoke: B works (and is cached)');

    is(req($port, 'GET /sessions/revoke', $a1)->{status}, 405,
       'revoke: GET is 405');
    is(revoke(undef, "id=$other->{id}")->{status}, 401,
       'revoke: without a session 401');

    my $m = login('mallory');
    is(revoke($m, "id=$other->{id}")->{status}, 404,
       "revoke: another subject's id is 404");
    is(statuses($b1), '200', '... and B still works');
    is(revoke($a1, "id=0123456789abcdef")->{status}, 404,
       'revoke: unknown id 404');
    is(revoke($a1, "id=nothex")->{status}, 404, 'revoke: malformed id 404');
    is(revoke($a1, "foo=bar")->{status}, 400, 'revoke: no id 400');

    my $r = revoke($a1, "x=1&id=$other->{id}");
    is($r->{status}, 204, 'revoke: own other session 204');
    like(join(',', @{ $r->{headers}{'cache-control'} // [] }),
         qr/no-store/, '... no-store');
    is(statuses($b1), '401', 'revoke: B refused at once on every worker');
    is(statuses($a1), '200', 'revoke: A still works');
    is(revoke($a1, "id=$other->{id}")->{status}, 404,
       'revoke: again 404');
    ($j) = list($a1);
    is(scalar @{ $j->{sessions} }, 1, 'revoke: one left in the list');

    my $c = login('alice');
    my $cid = sid_of($c);
    is(revoke($a1, qq({"id": "$cid"}), 'application/json')->{status}, 204,
       'revoke: JSON body');
    is(statuses($c), '401', '... that session refused');
    is(metric('nginx_session_revoked_total'), $before + 2,
       'metrics: revoked by users');
}

# --- session_revoke behind session_csrf (issue 14): a cross-site POST is
# refused before anything is ended
{
    my $x = login('csrf');
    my $y = login('csrf');
    my $yid = sid_of($y);
    my $form = 'application/x-www-form-urlencoded';
    is(req($port, 'POST /csrf/revoke', $x, "id=$yid", 'Content-Type' => $form,
           'Sec-Fetch-Site' => 'cross-site')->{status}, 403,
       'csrf: a cross-site revoke is 403');
    is(statuses($y), '200', '... and ended nothing');
    is(req($port, 'POST /csrf/revoke', $x, "id=$yid", 'Content-Type' => $form,
           'Sec-Fetch-Site' => 'same-origin')->{status}, 204,
       'csrf: a same-origin revoke is 204');
    is(statuses($y), '401', '... and ended the session');
}

# --- session_limit over=evict_oldest
{
    my $ev = metric('nginx_session_limit_total{action="evicted"}') // 0;
    my @c = map { my $c = login('dave', path => '/login-limit');
                  sleep 1.1; $c } 1 .. 2;
    is(statuses($c[0]), '200', 'limit: first session cached');
    # the first is seen again: the second becomes the least recently seen
    sleep 1.1;
    req($port, 'GET /app/x', $c[0]) for 1 .. 4;
    sleep 0.3;    # the touch is not waited for
    my $third = login('dave', path => '/login-limit');
    ok($third, 'limit: a third login passes');
    my ($j) = list($third);
    is(scalar @{ $j->{sessions} }, 2, 'limit: two left');
    is(statuses($c[1]), '401',
       'limit: the least recently seen is ended, on every worker');
    is(statuses($c[0]), '200', 'limit: the other one lives');
    is(metric('nginx_session_limit_total{action="evicted"}'), $ev + 1,
       'metrics: evicted by the limit');
}

# --- session_limit over=refuse
{
    my $rf = metric('nginx_session_limit_total{action="refused"}') // 0;
    my @c = map { scalar login('erin', path => '/login-refuse') } 1 .. 2;
    my ($c, $r) = login('erin', path => '/login-refuse');
    is($r->{status}, 409, 'refuse: the third login is 409');
    is($c, undef, '... without a cookie');
    is(statuses($_), '200', 'refuse: the first two live') for @c;
    my $x = login('erin', path => '/login-refuse', cookie => $c[0]);
    ok($x, 'refuse: a login renewing one of them passes');
    is(metric('nginx_session_limit_total{action="refused"}'), $rf + 1,
       'metrics: refused by the limit');
}

# --- 20 parallel logins of one subject, 2 workers
{
    my @st = parallel_requests($port, 20, 'GET /login-3?user=frank');
    is(scalar(grep { $_ == 204 } @st), 20, 'parallel evict: all 20 pass');
    is(redis_cli($redis, 'SCARD', 'session:u:frank'), 3,
       'parallel evict: exactly 3 left in the index');
    my $n = grep { redis_cli($redis, 'HGET', $_, 'sub') eq 'frank' }
            split /\n/, redis_cli($redis, 'KEYS', 'session:s:*');
    is($n, 3, 'parallel evict: exactly 3 records left');

    @st = parallel_requests($port, 20, 'GET /login-3r?user=gina');
    is(scalar(grep { $_ == 204 } @st), 3, 'parallel refuse: 3 pass');
    is(scalar(grep { $_ == 409 } @st), 17, 'parallel refuse: 17 get 409');
    is(redis_cli($redis, 'SCARD', 'session:u:gina'), 3,
       'parallel refuse: exactly 3 sessions');
}

# --- nginx -t: clear errors naming the file and line
{
    use File::Temp qw(tempdir);
    my $dir = tempdir(CLEANUP => 1);
    my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $modules = join '', map { "load_module $_;\n" }
                           split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    my $nginx_t = sub {
        my ($http) = @_;
        mkdir "$dir/logs";
        open my $fh, '>', "$dir/nginx.conf" or die $!;
        print $fh "${modules}error_log $dir/logs/error.log;\n"
                . "pid $dir/logs/nginx.pid;\nevents {}\nhttp {\n$http\n}\n";
        close $fh;
        my $out = `$binary -t -p $dir -c $dir/nginx.conf 2>&1`;
        return ($out, $? >> 8);
    };
    my $base = "session_keys $keys/ring1.keys;\n"
             . "session_redis 127.0.0.1:6379;\n";
    for my $t (
        [ "${base}session_limit max=0;",
          qr/invalid "session_limit" value "max=0" \(max=1 to max=1000\) in \S+nginx\.conf:\d+/ ],
        [ "${base}session_limit max=3 over=drop;",
          qr/invalid "session_limit" parameter "over=drop"/ ],
        [ "${base}session_limit over=refuse;",
          qr/"session_limit" needs "max=N"/ ],
        [ "${base}session_live_close maybe;",
          qr/invalid value "maybe" in "session_live_close" \(on or off\)/ ],
        [ "server { location /s { session_list; } }",
          qr/"session_list", "session_revoke" and "session_live_close" need "session_keys" and "session_redis"/ ],
        [ "${base}server { location /s { session_list; session_revoke; } }",
          qr/"session_revoke" directive is duplicate/ ],
    ) {
        my ($out, $rc) = $nginx_t->($t->[0]);
        isnt($rc, 0, "nginx -t fails: $t->[0]");
        like($out, $t->[1], '... saying why');
    }
    my ($out, $rc) = $nginx_t->("${base}session_limit max=5 over=refuse;\n"
        . "server { location /s { session_list; } "
        . "location /r { session_revoke; } "
        . "location /w { session_required on; session_live_close on; "
        . "session_client_address \$http_x_real_ip; } }");
    is($rc, 0, 'nginx -t passes a full configuration') or diag $out;
}

done_testing();
