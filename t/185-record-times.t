# The times of a session record ("abs", "last") are read with the module's
# own decimal parser (docs/benchmarks.md, issue 17), which must accept and
# refuse exactly what nginx's ngx_atotm() does: digits only, leading zeros
# allowed, nothing empty, nothing beyond time_t.  Each form is written into
# a real record in Redis and the request's answer checked: 200 when the
# time reads as the instant it names, 401 (malformed, refused) otherwise.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};

my $nginx = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport prefix=t185:;
    session_cookie sid secure=off;
    session_timeout idle=1h absolute=2h touch=30m;
    server {
        listen 127.0.0.1:\$PORT;
        location /p { session_required on; proxy_pass http://127.0.0.1:\$PORT/ok; }
        location = /ok { return 200 "ok\\n"; }
    }
HTTP

my ($cookie, $rc) = sessionctl('--keys', "$keys/ring1.keys",
                               '--redis', "127.0.0.1:$rport",
                               '--prefix', 't185:', 'create', 'times',
                               '--idle', '1h', '--absolute', '2h');
is($rc, 0, 'session created');
my ($key) = grep { /^t185:s:/ } split /\n/, redis_cli($redis, 'KEYS', 't185:s:*');
ok($key, 'its record');
my %rec = split /\n/, redis_cli($redis, 'HGETALL', $key);
ok(exists $rec{abs} && exists $rec{last}, 'its fields');

my $now = time;
my $abs = $now + 3600;          # an hour ahead
my $last = $now - 5;            # a few seconds ago

# [field, value, expected status, what]
my @cases = (
    [abs => "$abs", 200, 'plain'],
    [abs => "0$abs", 200, 'one leading zero'],
    [abs => ('0' x 8) . $abs, 200, 'eight leading zeros (18 digits)'],
    [abs => ('0' x 9) . $abs, 200, 'nine leading zeros (19 digits)'],
    [abs => ('0' x 30) . $abs, 200, 'thirty leading zeros'],
    [abs => '9223372036854775807', 200, 'the largest time_t, far ahead'],
    [abs => '9223372036854775808', 401, 'one beyond time_t'],
    [abs => '99999999999999999999', 401, 'twenty nines'],
    [abs => '', 401, 'empty'],
    [abs => "-$abs", 401, 'a sign'],
    [abs => "+$abs", 401, 'a plus sign'],
    [abs => " $abs", 401, 'a leading space'],
    [abs => "$abs ", 401, 'a trailing space'],
    [abs => substr($abs, 0, 5) . 'x' . substr($abs, 6), 401, 'a letter inside'],
    [abs => substr($abs, 0, 9) . ':', 401, "':' (the byte after '9') last"],
    [abs => '/' . substr($abs, 1), 401, "'/' (the byte before '0') first"],
    [abs => '1', 401, 'one digit: long past'],
    [abs => '12', 401, 'two digits: long past'],
    [abs => $now - 10, 401, 'ten seconds past'],
    [last => "$last", 200, 'last: plain'],
    [last => "000$last", 200, 'last: leading zeros'],
    [last => "${last}5", 200, 'last: eleven digits, far ahead (touched)'],
    [last => "12x", 401, 'last: a letter'],
    [last => '', 401, 'last: empty'],
);

# each case on the record as created, with one field replaced; an answer
# that judged it expired removes it (asynchronously): a pause, then the
# record is written again whole
for my $c (@cases) {
    my ($field, $value, $want, $what) = @$c;
    redis_cli($redis, 'DEL', $key);
    redis_cli($redis, 'HSET', $key, %rec, abs => $abs, last => $last);
    redis_cli($redis, 'HSET', $key, $field, $value);
    my $r = http_request($nginx->{port}, 'GET /p', { Cookie => "sid=$cookie" });
    is($r->{status}, $want, "$field $what: $want");
    select undef, undef, undef, 0.1;
}

done_testing();
