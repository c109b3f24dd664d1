# Live connections end with their session (issue 15 item 6): a WebSocket
# (a real one: python3-websockets behind nginx) or a server-sent event
# stream opened with a session in a "session_live_close on" location is
# closed by nginx within 2 s after the session is revoked by its user,
# logged out, logged out everywhere, evicted by session_limit, or revoked
# with sessionctl; whichever worker or edge ended it, with session_cache
# (edge 1) and without (edge 2, subscribed for session_live_close alone).
# A location without session_live_close keeps its WebSocket.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(sleep time);

eval { system('/usr/bin/python3', '-c', 'import websockets') == 0 or die }
    or plan skip_all => 'python3-websockets is not installed (scripts/deps)';

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};
my $wsport = free_port();
my $sseport = free_port();

my $backend = fork // die "fork: $!";
if ($backend == 0) {
    setpgrp(0, 0);
    { exec '/usr/bin/python3', "$FindBin::Bin/lib/live_backend.py", $wsport,
         $sseport };
    POSIX::_exit(127);
}
END { kill 'KILL', $backend if $backend; }
wait_port($wsport, 1);
for (1 .. 100) {
    last if IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $sseport);
    sleep 0.1;
}

my $common = <<"HTTP";
    session_keys $keys/ring2.keys;
    session_redis 127.0.0.1:$rport timeout=1s;
    session_cookie sid secure=off;
HTTP

my $server = <<"HTTP";
    server {
        listen 127.0.0.1:\$PORT;
        session_timeout idle=1h touch=1s;

        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /login-limit {
            session_issue on;
            session_limit max=1;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /backend/login {
            add_header X-Session-Subject \$arg_user;
            return 204;
        }
        location /ws {
            session_required on;
            session_live_close on;
            proxy_pass http://127.0.0.1:$wsport;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection upgrade;
            proxy_read_timeout 1h;
        }
        location /ws-plain {
            session_required on;
            proxy_pass http://127.0.0.1:$wsport;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection upgrade;
            proxy_read_timeout 1h;
        }
        location /events {
            session_required on;
            session_live_close on;
            proxy_pass http://127.0.0.1:$sseport;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }
        location = /sessions { session_list; }
        location = /sessions/revoke { session_revoke; }
        location = /logout { session_logout; }
        location = /logout-all { session_logout all; }
        location = /metrics { session_metrics; }
    }
HTTP

# an HTTP/2 (h2c) listener on edge 1, when nginx and curl have HTTP/2
my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $nginx_v = `$binary -V 2>&1`;
my $h2 = $nginx_v =~ /--with-http_v2_module/
         && `curl -V 2>/dev/null` =~ /^Features:.*\bHTTP2\b/m;
my $h2port = free_port();
my ($maj, $min, $pat) = $nginx_v =~ m{nginx/(\d+)\.(\d+)\.(\d+)};
my $h2listen = sprintf('%d%03d%03d', $maj, $min, $pat) >= 1025001
    ? "listen 127.0.0.1:$h2port;\n        http2 on;"
    : "listen 127.0.0.1:$h2port http2;";
my $h2server = !$h2 ? '' : <<"HTTP";
    server {
        $h2listen
        location /events {
            session_required on;
            session_live_close on;
            proxy_pass http://127.0.0.1:$sseport;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }
    }
HTTP

my $e1 = nginx_start(workers => 2, http => $common
    . "    session_cache zone=sc:1m valid=30s;\n" . $server . $h2server);
my $e2 = nginx_start(workers => 2, http => $common . $server);

sub login {
    my ($n, $user, $path) = @_;
    my $r = http_request($n->{port}, 'GET ' . ($path // '/login')
                         . "?user=$user");
    return set_cookie($r, 'sid');
}

# a WebSocket through nginx: the handshake, then one echoed message
sub ws_open {
    my ($n, $cookie, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $n->{port}, Timeout => 5)
        or return;
    print $s "GET " . ($path // '/ws') . " HTTP/1.1\r\nHost: localhost\r\n"
             . "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             . "Sec-WebSocket-Version: 13\r\nCookie: sid=$cookie\r\n\r\n";
    my $head = '';
    my $sel = IO::Select->new($s);
    while ($head !~ /\r\n\r\n/) {
        return unless $sel->can_read(5);
        sysread($s, my $b, 1) or return;
        $head .= $b;
    }
    return unless $head =~ m{^HTTP/1\.1 101};
    my $msg = 'hello';
    my $mask = 'abcd';
    my $masked = $msg ^ substr($mask x 2, 0, length $msg);
    syswrite $s, chr(0x81) . chr(0x80 | length $msg) . $mask . $masked;
    my $frame = '';
    while (length $frame < 2 + length $msg) {
        return unless $sel->can_read(5);
        sysread($s, my $b, 64) or return;
        $frame .= $b;
    }
    return unless substr($frame, 2) eq $msg;
    return $s;
}

# one more echoed message on an open WebSocket
sub ws_echo {
    my ($s) = @_;
    my $msg = 'again';
    my $mask = 'wxyz';
    syswrite $s, chr(0x81) . chr(0x80 | length $msg) . $mask
                 . ($msg ^ substr($mask x 2, 0, length $msg));
    my $frame = '';
    my $sel = IO::Select->new($s);
    while (length $frame < 2 + length $msg) {
        return 0 unless $sel->can_read(5);
        sysread($s, my $b, 64) or return 0;
        $frame .= $b;
    }
    return substr($frame, 2) eq $msg;
}

sub sse_open {
    my ($n, $cookie) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $n->{port}, Timeout => 5)
        or return;
    print $s "GET /events HTTP/1.1\r\nHost: localhost\r\n"
             . "Cookie: sid=$cookie\r\n\r\n";
    my $got = '';
    my $sel = IO::Select->new($s);
    while ($got !~ /data: tick/) {
        return unless $sel->can_read(5);
        sysread($s, my $b, 4096) or return;
        $got .= $b;
    }
    return unless $got =~ m{^HTTP/1\.1 200};
    return $s;
}

# seconds until the server closes the connection (reading what comes),
# or undef if it is still open after $max
sub closed_after {
    my ($s, $t0, $max) = @_;
    my $sel = IO::Select->new($s);
    while (time - $t0 < $max) {
        next unless $sel->can_read(0.05);
        my $n = sysread $s, my $b, 65536;
        return time - $t0 unless $n;
    }
    return undef;
}

# every connection at once: each must reach end of file within 2 s of t0
sub within2 {
    my ($name, $t0, @socks) = @_;
    my %open = map { ("$socks[$_]" => $_ + 1) } 0 .. $#socks;
    my %t;
    my $sel = IO::Select->new(@socks);
    while ($sel->count && time - $t0 < 2) {
        for my $s ($sel->can_read(0.05)) {
            my $n = sysread $s, my $b, 65536;
            next if $n;
            $t{$open{"$s"}} = time - $t0;
            $sel->remove($s);
        }
    }
    for my $i (1 .. @socks) {
        ok(defined $t{$i}, "$name: connection $i closed within 2 s")
            and note sprintf "%.3f s", $t{$i};
    }
}

sub metric {
    my ($n) = @_;
    my $b = http_request($n->{port}, 'GET /metrics')->{body};
    return $b =~ /^nginx_session_live_closed_total (\d+)$/m ? $1 : undef;
}

# several connections, so that both workers of an edge hold some
sub open_all {
    my ($cookie) = @_;
    my @s;
    for my $n ($e1, $e2) {
        push @s, ws_open($n, $cookie) for 1 .. 3;
        push @s, sse_open($n, $cookie);
    }
    return @s;
}

# --- session_revoke from another browser (edge 1)
{
    my $a = login($e1, 'ann');
    my $b = login($e2, 'ann');
    my @s = open_all($b);
    is(scalar(grep { $_ } @s), 8, 'revoke: 6 WebSockets and 2 streams open');
    my $plain = ws_open($e1, $b, '/ws-plain');
    ok($plain, 'revoke: a WebSocket without session_live_close');
    my $j = decode_json(http_request($e1->{port}, 'GET /sessions',
                                     { Cookie => "sid=$a" })->{body});
    my ($other) = grep { !$_->{current} } @{ $j->{sessions} };
    my $t0 = time;
    is(http_request($e1->{port}, 'POST /sessions/revoke',
                    { Cookie => "sid=$a",
                      'Content-Type' => 'application/x-www-form-urlencoded' },
                    "id=$other->{id}")->{status}, 204, 'revoke: 204');
    within2('revoke', $t0, grep { $_ } @s);
    is(closed_after($plain, $t0, 2.5), undef,
       'revoke: the WebSocket without session_live_close stays open');
    ok(ws_open($e1, $a), "revoke: the revoker's own WebSocket opens");
}

# --- logout (edge 2, without session_cache)
{
    my $b = login($e1, 'bob');
    my @s = open_all($b);
    my $t0 = time;
    is(http_request($e2->{port}, 'GET /logout', { Cookie => "sid=$b" })
       ->{status}, 204, 'logout: 204');
    within2('logout', $t0, grep { $_ } @s);
}

# --- logout everywhere from another session
{
    my $a = login($e2, 'cy');
    my $b = login($e1, 'cy');
    my @s = (open_all($a), open_all($b));
    my $t0 = time;
    http_request($e1->{port}, 'GET /logout-all', { Cookie => "sid=$b" });
    within2('logout all', $t0, grep { $_ } @s);
}

# --- evicted by session_limit
{
    my $a = login($e1, 'dee', '/login-limit');
    my @s = open_all($a);
    my $t0 = time;
    ok(login($e2, 'dee', '/login-limit'), 'limit: the second login passes');
    within2('limit eviction', $t0, grep { $_ } @s);
}

# --- sessionctl revoke (another "edge")
{
    my $a = login($e2, 'eli');
    my @s = open_all($a);
    my $t0 = time;
    my (undef, $rc) = sessionctl('--keys', "$keys/ring2.keys", '--redis',
                                 "127.0.0.1:$rport", 'revoke', $a);
    is($rc, 0, 'sessionctl revoke');
    within2('sessionctl revoke', $t0, grep { $_ } @s);
}

# --- an event stream over HTTP/2: the stream is reset, the rest goes on
SKIP: {
    skip 'no HTTP/2 in nginx or curl', 3 unless $h2;
    my $a = login($e1, 'h2u');
    my $b = login($e1, 'h2v');
    my $dir = $e1->{root};
    my @pids;
    for my $c ($a, $b) {
        my $pid = fork // die;
        if ($pid == 0) {
            open STDOUT, '>', "$dir/h2-$c.out";
            open STDERR, '>', '/dev/null';
            { exec 'curl', '-s', '-N', '--http2-prior-knowledge',
                   '--max-time', '10', '-b', "sid=$c",
                   "http://127.0.0.1:$h2port/events" };
            POSIX::_exit(127);
        }
        push @pids, $pid;
    }
    for (1 .. 100) {
        last unless grep { !-s "$dir/h2-$_.out" } $a, $b;
        sleep 0.05;
    }
    my $t0 = time;
    http_request($e1->{port}, 'GET /logout', { Cookie => "sid=$a" });
    my $done;
    while (time - $t0 < 2) {
        $done = waitpid($pids[0], POSIX::WNOHANG());
        last if $done > 0;
        sleep 0.02;
    }
    ok($done && $done > 0, 'HTTP/2: the stream of the ended session closed '
       . 'within 2 s') and note sprintf '%.3f s', time - $t0;
    is(waitpid($pids[1], POSIX::WNOHANG()), 0,
       "HTTP/2: another session's stream goes on");
    my $size = -s "$dir/h2-$b.out";
    sleep 0.5;
    ok(-s "$dir/h2-$b.out" > $size, '... and still receives events');
    kill 'KILL', @pids;
    waitpid($_, 0) for @pids;
}

# --- a revocation missed while the subscription was down: checked again
# when the workers subscribe again.  One pipeline: every subscriber is
# disconnected, then the record is deleted (nothing is published to
# anyone); the workers reconnect after their backoff (at least 100 ms).
{
    my $a = login($e2, 'gus');
    my @s = map { ws_open($_, $a) } $e1, $e1, $e2, $e2;
    is(scalar(grep { $_ } @s), 4, 'missed: 4 WebSockets open');
    my $h = redis_cli($redis, 'SMEMBERS', 'session:u:gus');
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $rport) or die $!;
    my $resp = sub { my @a = @_;
                     join '', "*" . @a . "\r\n",
                              map { '$' . length($_) . "\r\n$_\r\n" } @a };
    my $t0 = time;
    print $sock $resp->('CLIENT', 'KILL', 'TYPE', 'pubsub'),
                $resp->('DEL', "session:s:$h");
    my $r1 = <$sock>;
    my $r2 = <$sock>;
    close $sock;
    like("$r1$r2", qr/^:\d+\r\n:1\r\n$/, 'missed: subscribers cut, record gone');
    within2('missed revocation, after resubscribing', $t0, grep { $_ } @s);
}

# --- a reload: the old workers keep their WebSockets, and still close them
{
    my $a = login($e1, 'rel');
    my @s = map { ws_open($e1, $a) } 1 .. 4;
    is(scalar(grep { $_ } @s), 4, 'reload: 4 WebSockets open');
    nginx_reload($e1);
    ok(ws_open($e1, $a), 'reload: the new workers accept the session');
    is(scalar(grep { $_ && ws_echo($_) } @s), 4,
       'reload: the 4 WebSockets of the old workers still work');
    my $t0 = time;
    http_request($e1->{port}, 'GET /logout', { Cookie => "sid=$a" });
    within2('after a reload, in the old workers', $t0, grep { $_ } @s);
}

# --- what a closed connection looks like, and the metrics
{
    my $a = login($e1, 'fay');
    my $ws = ws_open($e1, $a);
    http_request($e1->{port}, 'GET /logout', { Cookie => "sid=$a" });
    my $t = closed_after($ws, time, 2);
    ok(defined $t, 'a closed WebSocket reads end of file (a TCP close)');
    ok(!ws_open($e1, $a), 'the WebSocket cannot be opened again');
    my $m = (metric($e1) // 0) + (metric($e2) // 0);
    ok($m >= 30, "metrics: live connections closed ($m)");
}

diag SessionTest::error_log($e1) if $ENV{LIVE_DEBUG};
done_testing();
