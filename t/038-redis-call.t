# The one way a request waits for Redis (ngx_http_session_call_t, issue
# 12): the session lookup, the login filter, logout and the signature
# replay check each meet a Redis that stops answering (the redis-server
# process is SIGSTOPped) twice: once with the client waiting, which gets
# its 503 at the deadline, and once with the client gone mid-command, the
# request dying before or at the deadline while the command is still in
# Redis's hands; the late replies come after Redis resumes and must find
# no request.  Under TEST_NGINX_USE_VALGRIND=1 the whole script runs with
# nginx under memcheck and any invalid access fails it.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Digest::SHA qw(hmac_sha256_hex);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my $slow = SessionTest::slow();
my $keys = test_keys_dir();
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $secret = 'redis call test secret';
open my $sf, '>', "$dir/miniapp.secret" or die;
print $sf "$secret\n";
close $sf;
chmod 0644, "$dir/miniapp.secret";

my $redis = redis_start();
my $timeout = valgrind_timeout();

sub valgrind_timeout { SessionTest::valgrind() ? 10 : 1 }

my $nginx = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$redis->{port} timeout=${timeout}s
                  connect_timeout=60s;
    session_cookie sid secure=off;

    server {
        listen 127.0.0.1:\$PORT;

        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/login;
        }
        location = /backend/login {
            add_header X-Session-Subject alice;
            return 204;
        }
        location = /logout {
            session_logout;
        }
        location /app {
            session_required on;
            proxy_pass http://127.0.0.1:\$PORT/backend/ok;
        }
        location /hook {
            session_signature miniapp secret_file=$dir/miniapp.secret
                              tolerance=300s;
            proxy_pass http://127.0.0.1:\$PORT/backend/ok;
        }
        location /backend/ok {
            return 200 "ok\\n";
        }
    }
HTTP
my $port = $nginx->{port};

open my $pf, '<', "$redis->{dir}/redis.pid" or die;
chomp(my $rpid = <$pf>);
close $pf;

my $seq = 0;

# every path's request: [method and path, headers, body]
sub login  { ['GET /login', {}, undef] }
sub logout { my ($c) = @_; ['POST /logout', { Cookie => "sid=$c" }, ''] }
sub lookup { my ($c) = @_; ['GET /app', { Cookie => "sid=$c" }, undef] }
sub hook {
    my $body = 'delivery ' . ++$seq . " $$";
    my $ts = int(time);
    ['POST /hook', { 'X-Timestamp' => $ts,
                     'X-Miniapp-Signature' =>
                         hmac_sha256_hex("$ts.$body", $secret) }, $body];
}

sub fresh_cookie {
    for (1 .. 50 * $slow) {
        my $r = http_request($port, 'GET /login', {}, undef, 10 * $slow);
        my $c = SessionTest::set_cookie($r, 'sid');
        return $c if $c;
        sleep 0.1;
    }
    return undef;
}

my $cookie = fresh_cookie();
ok($cookie, 'a login with Redis running');
is(http_request($port, 'GET /app', { Cookie => "sid=$cookie" })->{status},
   200, 'its session');

# send a request and hang up after $wait seconds, unanswered
sub abandon {
    my ($req, $wait) = @_;
    my ($line, $h, $body) = @$req;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port) or die "connect: $!";
    my $text = "$line HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $text .= "$_: $h->{$_}\r\n" for sort keys %$h;
    $text .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
    $text .= "\r\n" . ($body // '');
    print $s $text;
    sleep $wait;
    close $s;
}

my %paths = (
    lookup => sub { lookup($cookie) },
    login  => \&login,
    logout => sub { logout(fresh_cookie()) },
    hook   => \&hook,
);

for my $name (qw(lookup login logout hook)) {
    my $req = $paths{$name}->();

    # the client waits: 503 at the deadline
    kill 'STOP', $rpid;
    my $t0 = time;
    my $r = http_request($port, $req->[0], $req->[1], $req->[2],
                         10 + 4 * $timeout * $slow);
    my $took = time - $t0;
    kill 'CONT', $rpid;
    is($r->{status}, 503, "$name: Redis stopped, the client waits: 503");
    ok($took >= $timeout * 0.9, sprintf("$name: ... at the deadline "
                                        . "(%.1f s)", $took));

    # the client hangs up mid-command; Redis answers after the deadline
    $req = $paths{$name}->();
    kill 'STOP', $rpid;
    abandon($req, $timeout / 2);
    sleep $timeout / 2 + 1;
    kill 'CONT', $rpid;

    # Redis is back: the late replies were dropped, the path works again
    my $ok;
    for (1 .. 30 * $slow) {
        $req = $paths{$name}->();
        $r = http_request($port, $req->[0], $req->[1], $req->[2],
                          10 * $slow);
        $ok = $r->{status};
        last if $ok != 503;
        sleep 0.1;
    }
    my %want = (lookup => 200, login => 204, logout => 204, hook => 200);
    is($ok, $want{$name}, "$name: after the abandoned request, it works");
}

my $log = SessionTest::error_log($nginx);
like($log, qr/redis did not answer in time/, 'the lookup timed out');
like($log, qr/redis did not confirm in time/, 'the login timed out');
like($log, qr/redis did not confirm the logout in time/,
     'the logout timed out');
like($log, qr/session signature: redis did not answer in time/,
     'the signature check timed out');
# the held login response's client was seen going away while its command
# was still in Redis (the request died mid-command: 499)
my $access = do {
    local $/;
    open my $af, '<', "$nginx->{root}/logs/access.log" or die;
    <$af>;
};
like($access, qr{"GET /login HTTP/1.1" 499 }, 'a login died mid-command');
unlike($log, qr/\[(alert|crit|emerg)\]|exited on signal/,
       'no alert, crit, emerg or crashed worker');

done_testing();
