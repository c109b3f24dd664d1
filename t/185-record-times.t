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
my %rec = split /\n/, redis_cli($redis, 'HGETALL', $key), -1;
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

ok(exists $rec{lk}, 'and its lookup copy "lk"');
delete $rec{lk};

sub get { http_request($nginx->{port}, 'GET /p', { Cookie => "sid=$cookie" }) }

# the record's "lk" (the lookup's copy) packed here from %f
sub lk_of {
    my (%f) = @_;
    return pack_lk($f{key} // $key, @f{qw(sub abs last cl nx nt cre)});
}

# each case on the record as created, with one field replaced, read from
# its fields (no "lk": a record of an earlier version) and from its "lk"
# (packed here, not by the module's script); an answer that judged it
# expired removes it (asynchronously): a pause, then the record is written
# again whole
for my $path ('fields', 'lk') {
    for my $c (@cases) {
        my ($field, $value, $want, $what) = @$c;
        my %f = (%rec, abs => $abs, last => $last, $field => $value);
        redis_cli($redis, 'DEL', $key);
        redis_cli($redis, 'HSET', $key, %f,
                  $path eq 'lk' ? (lk => lk_of(%f)) : ());
        is(get()->{status}, $want, "$path: $field $what: $want");
        select undef, undef, undef, 0.1;
    }
}

# "lk" itself: the netstrings (src/session_record.c) refused whole when
# they are not exactly seven well-formed ones
my %good = (%rec, abs => $abs, last => $last);
my $lk = lk_of(%good);
my $sub = $good{sub};
my $head = '16:' . substr($key, -64, 16) . ',';
my $rest = substr($lk, length($head . length($sub) . ":$sub,"));
my @lk_cases = (
    [$lk, 200, 'as packed'],
    [$head, 401, 'the id alone'],
    [substr($lk, 0, -1), 401, 'the last comma missing'],
    ["$lk,", 401, 'a byte after the seventh field'],
    ["${lk}0:,", 401, 'an eighth field'],
    [substr($lk, 0, -3), 401, 'six fields'],
    [$head . '0' . substr($lk, length($head)), 401,
     'a leading zero in a length'],
    [$head . (length($sub) + 1) . ":$sub,$rest", 401,
     'a length one too long'],
    ["${head}0:,$rest", 401, 'no subject'],
    [$head . '9999999:' . substr($lk, length($head) + index(substr($lk,
        length($head)), ':') + 1), 401, 'a length of seven digits'],
    ["$head $rest", 401, 'a space where a length begins'],
    [lk_of(%good, nx => 'f' x 64, nt => 'x'), 401,
     'a renewal that does not open'],
    [lk_of(%good, sub => "x\r\nX-Injected: 1"), 401, 'a subject with CR LF'],
);
for my $c (@lk_cases) {
    my ($v, $want, $what) = @$c;
    redis_cli($redis, 'DEL', $key);
    redis_cli($redis, 'HSET', $key, %good, lk => $v);
    is(get()->{status}, $want, "lk $what: $want");
    select undef, undef, undef, 0.1;
}

# a string that is not this record's "lk" is not read as a record: the
# reply of another command or another record on a link out of step (RESP
# has no request ids); the link is dropped, 503, and comes back
my @other = (
    [lk_of(%good, key => 'f' x 64), 'another record\'s "lk"'],
    ['6b86b273ff34fce19d6b804eff5a3f5747ada4ea', 'a SHA1 (SCRIPT LOAD)'],
    ['', 'an empty string'],
    [" $lk", 'a leading space'],
    [substr($lk, 0, 10), 'the id cut'],
);
for my $c (@other) {
    my ($v, $what) = @$c;
    redis_cli($redis, 'DEL', $key);
    redis_cli($redis, 'HSET', $key, %good, lk => $v);
    is(get()->{status}, 503, "lk $what: 503");
    redis_cli($redis, 'HSET', $key, lk => $lk);
    my $st;
    for (1 .. 30) {
        $st = get()->{status};
        last if $st == 200;
        select undef, undef, undef, 0.1;
    }
    is($st, 200, "... and 200 again with the record's own");
}
like(SessionTest::error_log($nginx),
     qr/lookup with the reply of another command or record/,
     'the link out of step is logged');

# "lk" is what a lookup reads, but one that says the session is over is
# checked against the fields before the record goes: an edge of an earlier
# version (a rolling upgrade) touches "last" and not "lk"
redis_cli($redis, 'DEL', $key);
redis_cli($redis, 'HSET', $key, %good,
          lk => lk_of(%good, last => $now - 7200));
is(get()->{status}, 200, 'lk idle, the fields alive: 200');
is(redis_cli($redis, 'EXISTS', $key), '1', '... and the record is kept');
redis_cli($redis, 'DEL', $key);
redis_cli($redis, 'HSET', $key, %good, last => $now - 7200,
          lk => lk_of(%good, last => $now - 7200));
is(get()->{status}, 401, 'lk and the fields idle: 401');
my $gone;
for (1 .. 20) {
    $gone = redis_cli($redis, 'EXISTS', $key) eq '0';
    last if $gone;
    select undef, undef, undef, 0.1;
}
ok($gone, '... and the record is removed');

done_testing();
