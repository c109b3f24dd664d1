# Malformed signed requests and initData, table-driven: each row is sent
# raw and must get its documented status, with nothing logged above
# "info" and the worker alive throughout.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Digest::SHA qw(hmac_sha256_hex);
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

my $sec = "$FindBin::Bin/secrets";
chmod 0600, glob("$sec/*");
my $redis = redis_start();

my $nginx = nginx_start(http => <<"HTTP");
    session_redis 127.0.0.1:$redis->{port};

    server {
        listen 127.0.0.1:\$PORT;
        location /m {
            session_signature miniapp secret_file=$sec/miniapp.secret;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location /g {
            session_signature github secret_file=$sec/github.secret;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location /s {
            session_signature stripe secret_file=$sec/stripe.secret;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location /w {
            session_signature standard secret_file=$sec/standard.secret;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location /tg {
            session_telegram bot_token_file=$sec/bot.token max_age=30y;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /ok { return 200 "ok\\n"; }
        location = /pid { return 200 "\$pid\\n"; }
    }
HTTP
my $port = $nginx->{port};

my $ms = 'miniapp-callback-secret-0123456789';
my $now = time;
my $ts = int($now);

sub msig { hmac_sha256_hex("$_[0].$_[1]", $ms) }

# a raw request: request line, header lines, body
sub raw {
    my ($line, $headers, $body) = @_;
    $body //= '';
    my $req = "$line HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $req .= "$_\r\n" for @$headers;
    $req .= "Content-Length: " . length($body) . "\r\n"
        unless grep { /^(Content-Length|Transfer-Encoding):/i } @$headers;
    return $req . "\r\n" . $body;
}

sub send_raw {
    my ($req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or return 0;
    syswrite $s, $req;
    my $sel = IO::Select->new($s);
    my $resp = '';
    while ($sel->can_read(5)) {
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $resp .= $buf;
    }
    my ($st) = $resp =~ m{^HTTP/1\.1 (\d{3})};
    return $st // 0;
}

my $good = msig($ts, 'body');
my $init = 'user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22en%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%7D&chat_instance=-3788475317572404878&chat_type=private&auth_date=1709144340&hash=371697738012ebd26a111ace4aff23ee265596cd64026c8c3677956a85ca1827';

my @rows = (
    # [ name, request, expected status ]
    ['miniapp: valid', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: $good"], 'body'), 200],
    ['miniapp: no headers', raw('POST /m', [], 'body'), 401],
    ['miniapp: empty signature', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: "], 'body'), 401],
    ['miniapp: empty timestamp', raw('POST /m', ["X-Timestamp: ", "X-Miniapp-Signature: $good"], 'body'), 401],
    ['miniapp: no timestamp', raw('POST /m', ["X-Miniapp-Signature: $good"], 'body'), 401],
    ['miniapp: odd-length hex', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . substr($good, 1)], 'body'), 401],
    ['miniapp: non-hex', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . ('zz' x 32)], 'body'), 401],
    ['miniapp: 31-byte MAC', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . substr($good, 0, 62)], 'body'), 401],
    ['miniapp: 33-byte MAC', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: ${good}00"], 'body'), 401],
    ['miniapp: huge signature header (6 KB)', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . ('a' x 6000)], 'body'), 401],
    ['miniapp: header over nginx\'s buffers (64 KB)', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . ('a' x 65536)], 'body'), 400],   # nginx's own
    ['miniapp: signature with a space inside', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . substr($good, 0, 10) . ' ' . substr($good, 11)], 'body'), 401],
    ['miniapp: signature with a control byte', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . substr($good, 0, 10) . "\x01" . substr($good, 11)], 'body'), 401],
    ['miniapp: duplicate signature headers', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: $good", "X-Miniapp-Signature: $good"], 'body'), 401],
    ['miniapp: duplicate timestamps', raw('POST /m', ["X-Timestamp: $ts", "X-Timestamp: $ts", "X-Miniapp-Signature: $good"], 'body'), 401],
    ['miniapp: negative timestamp', raw('POST /m', ["X-Timestamp: -$ts", "X-Miniapp-Signature: " . msig("-$ts", 'body')], 'body'), 401],
    ['miniapp: timestamp with leading zero', raw('POST /m', ["X-Timestamp: 0$ts", "X-Miniapp-Signature: " . msig("0$ts", 'body')], 'body'), 401],
    ['miniapp: timestamp overflow', raw('POST /m', ["X-Timestamp: 99999999999999999999999", "X-Miniapp-Signature: $good"], 'body'), 401],
    ['miniapp: hex timestamp', raw('POST /m', ["X-Timestamp: 0x10", "X-Miniapp-Signature: $good"], 'body'), 401],
    ['miniapp: chunked body, valid signature', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . msig($ts, 'chunk'), "Transfer-Encoding: chunked"], "3\r\nchu\r\n2\r\nnk\r\n0\r\n\r\n"), 200],
    ['miniapp: chunked body, tampered', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: $good", "Transfer-Encoding: chunked"], "2\r\nbo\r\n2\r\ndY\r\n0\r\n\r\n"), 401],
    ['miniapp: Content-Length shorter than the body', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: $good", "Content-Length: 3"], 'body'), 401],
    ['miniapp: NUL byte in the body', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . msig($ts, "bo\0dy")], "bo\0dy"), 200],
    ['miniapp: non-UTF-8 body', raw('POST /m', ["X-Timestamp: $ts", "X-Miniapp-Signature: " . msig($ts, "\xff\xfe\x80")], "\xff\xfe\x80"), 200],
    ['github: no delivery id', raw('POST /g', ['X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'], 'Hello, World!'), 401],
    ['github: no sha256= prefix', raw('POST /g', ['X-GitHub-Delivery: x1', 'X-Hub-Signature-256: 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'], 'Hello, World!'), 401],
    ['github: sha1= instead', raw('POST /g', ['X-GitHub-Delivery: x2', 'X-Hub-Signature-256: sha1=757107ea0eb2509fc211221cce984b8a37570b6d'], 'Hello, World!'), 401],
    ['github: valid', raw('POST /g', ['X-GitHub-Delivery: x3', 'X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'], 'Hello, World!'), 200],
    ['github: replay with another delivery id', raw('POST /g', ['X-GitHub-Delivery: x4', 'X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'], 'Hello, World!'), 409],
    ['stripe: no t=', raw('POST /s', ['Stripe-Signature: v1=' . ('ab' x 32)], '{}'), 401],
    ['stripe: no v1=', raw('POST /s', ["Stripe-Signature: t=$ts"], '{}'), 401],
    ['stripe: garbage', raw('POST /s', ['Stripe-Signature: ,,,==,'], '{}'), 401],
    ['stripe: stale', raw('POST /s', ['Stripe-Signature: t=1700000000,v1=8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724'], '{"id":"evt_test","object":"event"}'), 401],
    ['standard: bad base64', raw('POST /w', ['webhook-id: m1', "webhook-timestamp: $ts", 'webhook-signature: v1,!!!!'], '{}'), 401],
    ['standard: v2 only', raw('POST /w', ['webhook-id: m1', "webhook-timestamp: $ts", 'webhook-signature: v2,AAAA'], '{}'), 401],
    ['standard: no id', raw('POST /w', ["webhook-timestamp: $ts", 'webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='], '{}'), 401],
    ['telegram: valid', raw('GET /tg', ["Authorization: tma $init"]), 200],
    ['telegram: tma with trailing spaces', raw('GET /tg', ["Authorization: tma $init   "]), 200],
    ['telegram: lower-case TMA scheme word', raw('GET /tg', ["Authorization: TMA $init"]), 200],
    ['telegram: no hash', raw('GET /tg', ['Authorization: tma ' . ($init =~ s/&hash=.*//r)]), 401],
    ['telegram: empty', raw('GET /tg', ['Authorization: tma']), 401],
    ['telegram: bad percent-encoding', raw('GET /tg', ['Authorization: tma ' . ($init =~ s/%7B/%7/r)]), 401],
    ['telegram: duplicate key', raw('GET /tg', ["Authorization: tma $init&auth_date=1709144340"]), 401],
    ['telegram: two Authorization headers (nginx refuses)', raw('GET /tg', ["Authorization: tma $init", "Authorization: tma $init"]), 400],
    ['telegram: initData over 4 KB', raw('GET /tg', ['Authorization: tma ' . ('a=b&' x 1100)]), 401],
    ['telegram: 8 KB initData (over nginx\'s header buffers)', raw('GET /tg', ['Authorization: tma ' . ('a=b&' x 2048)]), 400],
    ['telegram: NUL escape in a value', raw('GET /tg', ['Authorization: tma ' . ($init =~ s/chat_type=private/chat_type=priv%00ate/r)]), 401],
    ['telegram: Basic auth instead', raw('GET /tg', ['Authorization: Basic dXNlcjpwYXNz']), 401],
);

my ($pid) = http_request($port, 'GET /pid')->{body} =~ /(\d+)/;
my $mark = length SessionTest::error_log($nginx);

for my $row (@rows) {
    my ($name, $req, $want) = @$row;
    is(send_raw($req), $want, $name);
}

ok(scalar(@rows) >= 30, scalar(@rows) . ' rows');
my ($pid2) = http_request($port, 'GET /pid')->{body} =~ /(\d+)/;
is($pid2, $pid, 'the same worker served every row');
my $log = substr(SessionTest::error_log($nginx), $mark);
my @loud = grep { /\[(warn|error|crit|alert|emerg)\]/ } split /\n/, $log;
is(scalar(@loud), 0, 'nothing logged above info')
    or diag(join "\n", @loud[0 .. ($#loud > 5 ? 5 : $#loud)]);

done_testing();
