# The session lookup asks Redis only for what the configuration reads
# (docs/benchmarks.md, issue 17): "cre" (the login time, the assertion's
# auth_time) only when session_assertion_keys is configured; the other six
# fields always.  Watched with MONITOR on a real Redis.  With the field,
# the assertion carries auth_time; without it, the request still passes.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(time);

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};
my $dir = tempdir(CLEANUP => 1);
my (undef, $rc) = sessionctl('assertion-keygen', "$dir/assert.keys");
is($rc, 0, 'assertion keys made');
chmod 0600, "$dir/assert.keys";

my $cookie = sessionctl('--keys', "$keys/ring1.keys",
                        '--redis', "127.0.0.1:$rport", 'create', 'alice');
ok($cookie, 'session created');

# the HMGET commands Redis receives while $code runs
sub lookups {
    my ($code) = @_;
    my $m = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $rport) or die $!;
    print $m "MONITOR\r\n";
    my $sel = IO::Select->new($m);
    my $buf = '';
    sysread $m, $buf, 4096 if $sel->can_read(2);    # +OK
    $code->();
    my $deadline = time + 2;
    my $got = '';
    while (time < $deadline && $got !~ /"HMGET"/) {
        last unless $sel->can_read($deadline - time);
        sysread($m, my $chunk, 65536) or last;
        $got .= $chunk;
    }
    close $m;
    return grep { /"HMGET"/ } split /\r\n/, $got;
}

sub fields {
    my ($line) = @_;
    my @a = $line =~ /"([^"]*)"/g;
    return "@a[2 .. $#a]";
}

my $plain = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;
    server {
        listen 127.0.0.1:\$PORT;
        location /p { session_required on; proxy_pass http://127.0.0.1:\$PORT/echo; }
        location /echo { return 200 "ok\\n"; }
    }
HTTP

my $st;
my @l = lookups(sub {
    $st = http_request($plain->{port}, 'GET /p',
                       { Cookie => "sid=$cookie" })->{status};
});
is($st, 200, 'no assertion keys: the valid session passes');
is(scalar @l, 1, 'one lookup');
is(fields($l[0] // ''), 'sub abs last cl nx nt',
   'no assertion keys: six fields, no "cre"');
nginx_stop($plain);

my $asserting = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;
    session_assertion_keys $dir/assert.keys;
    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            session_assertion audience=t180;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location /echo { return 200 "\$http_x_session_assertion"; }
    }
HTTP

my $r;
@l = lookups(sub {
    $r = http_request($asserting->{port}, 'GET /p',
                      { Cookie => "sid=$cookie" });
});
is($r->{status}, 200, 'assertion keys: the valid session passes');
is(fields($l[0] // ''), 'sub abs last cl nx nt cre',
   'assertion keys: "cre" asked for too');
my (undef, $payload) = split /\./, $r->{body} // '';
$payload //= '';
$payload =~ tr/-_/+\//;
$payload .= '=' x ((4 - length($payload) % 4) % 4);
like(decode_base64($payload), qr/"auth_time":\d+/,
     'the assertion carries auth_time from "cre"');

done_testing();
