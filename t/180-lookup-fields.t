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

# the lookup commands (HGET, HMGET) Redis receives while $code runs, until
# $want of them came
sub lookups {
    my ($code, $want) = @_;
    my $m = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $rport) or die $!;
    print $m "MONITOR\r\n";
    my $sel = IO::Select->new($m);
    my $buf = '';
    sysread $m, $buf, 4096 if $sel->can_read(2);    # +OK
    $code->();
    my $deadline = time + 2;
    my $got = '';
    my @l;
    while (time < $deadline && @l < $want) {
        last unless $sel->can_read($deadline - time);
        sysread($m, my $chunk, 65536) or last;
        $got .= $chunk;
        @l = grep { /"HM?GET"/ } split /\r\n/, $got;
    }
    close $m;
    return @l;
}

sub fields {
    my ($line) = @_;
    my @a = $line =~ /"([^"]*)"/g;
    return "$a[0] @a[2 .. $#a]";
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

my ($key) = grep { /^session:s:/ }
            split /\n/, redis_cli($redis, 'KEYS', 'session:s:*');
my $lk = redis_cli($redis, 'HGET', $key, 'lk');
like($lk, qr/^16:[0-9a-f]{16},\d+:alice,/,
     'the record has its lookup copy "lk"');

my $st;
my @l = lookups(sub {
    $st = http_request($plain->{port}, 'GET /p',
                       { Cookie => "sid=$cookie" })->{status};
}, 2);
is($st, 200, 'the valid session passes');
is_deeply([map { fields($_) } @l], ['HGET lk'], 'one lookup: HGET of "lk"');

# a record without "lk" (an earlier version's): read from its fields
redis_cli($redis, 'HDEL', $key, 'lk');
@l = lookups(sub {
    $st = http_request($plain->{port}, 'GET /p',
                       { Cookie => "sid=$cookie" })->{status};
}, 2);
is($st, 200, 'without "lk": the valid session passes');
is_deeply([map { fields($_) } @l], ['HGET lk', 'HMGET sub abs last cl nx nt'],
          'without "lk": HGET, then HMGET of six fields, no "cre"');
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

sub auth_time {
    my (undef, $payload) = split /\./, $_[0]->{body} // '';
    $payload //= '';
    $payload =~ tr/-_/+\//;
    $payload .= '=' x ((4 - length($payload) % 4) % 4);
    return decode_base64($payload) =~ /"auth_time":(\d+)/ ? $1 : undef;
}

my $cre = redis_cli($redis, 'HGET', $key, 'cre');
my $r;
@l = lookups(sub {
    $r = http_request($asserting->{port}, 'GET /p',
                      { Cookie => "sid=$cookie" });
}, 2);
is($r->{status}, 200, 'assertion keys, without "lk": the session passes');
is_deeply([map { fields($_) } @l],
          ['HGET lk', 'HMGET sub abs last cl nx nt cre'],
          'assertion keys, without "lk": "cre" asked for too');
is(auth_time($r), $cre, 'the assertion carries auth_time from "cre"');

# with "lk" (its "cre" is the lookup's)
redis_cli($redis, 'HSET', $key, 'lk', $lk);
@l = lookups(sub {
    $r = http_request($asserting->{port}, 'GET /p',
                      { Cookie => "sid=$cookie" });
}, 2);
is($r->{status}, 200, 'assertion keys, with "lk": the session passes');
is_deeply([map { fields($_) } @l], ['HGET lk'],
          'assertion keys, with "lk": one HGET');
is(auth_time($r), $cre, '... and auth_time from the "cre" in "lk"');

done_testing();
