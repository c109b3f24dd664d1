# Signed requests at the edge: the published vectors of every scheme pass
# through nginx; fresh signatures verify for bodies of 0 and 1 byte, of
# exactly client_body_buffer_size and larger (temporary file); the
# upstream gets the body byte for byte; one flipped byte anywhere fails;
# a replay is 409; stale timestamps are 401; Redis down is 503.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Digest::SHA qw(hmac_sha256_hex hmac_sha256_base64 sha256_hex);
use MIME::Base64 qw(decode_base64);
use File::Temp qw(tempdir);

my $keys = test_keys_dir();
my $sec = "$FindBin::Bin/secrets";
chmod 0600, glob("$sec/*");
my $redis = redis_start();
my $rport = $redis->{port};
my $store = tempdir(CLEANUP => 1);
chmod 0777, $store;

my $nginx = nginx_start(http => <<"HTTP");
    session_redis 127.0.0.1:$rport;
    client_body_buffer_size 8k;

    server {
        listen 127.0.0.1:\$PORT;

        location /miniapp/ {
            session_signature miniapp secret_file=$sec/miniapp.secret;
            proxy_pass http://127.0.0.1:\$PORT/store/;
        }
        location /miniapp-noreplay/ {
            session_signature miniapp secret_file=$sec/miniapp.secret
                              replay=off tolerance=30s;
            proxy_pass http://127.0.0.1:\$PORT/store/;
        }
        location /github/ {
            session_signature github secret_file=$sec/github.secret;
            proxy_pass http://127.0.0.1:\$PORT/store/;
        }
        location /vec/github/ {
            session_signature github secret_file=$sec/github.secret
                              replay=off;
            proxy_pass http://127.0.0.1:\$PORT/store/;
        }
        location /vec/slack/ {
            session_signature slack secret_file=$sec/slack.secret
                              tolerance=30y replay=off;
            proxy_pass http://127.0.0.1:\$PORT/store/;
        }
        location /vec/stripe/ {
            session_signature stripe secret_file=$sec/stripe.secret
                              tolerance=30y replay=off;
            proxy_pass http://127.0.0.1:\$PORT/store/;
        }
        location /vec/standard/ {
            session_signature standard secret_file=$sec/standard.secret
                              tolerance=30y;
            proxy_pass http://127.0.0.1:\$PORT/store/;
        }
        location /custom/ {
            session_signature miniapp secret_file=$sec/miniapp.secret
                              header=X-Sig timestamp_header=X-Ts;
            proxy_pass http://127.0.0.1:\$PORT/store/;
        }
        location /store/ {
            allow 127.0.0.1;
            deny all;
            alias $store/;
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:rw all:rw;
        }
        location = /status {
            return 200 "\$session_signature_status\\n";
        }
    }

    server {
        listen 127.0.0.1:${\ (my $p2 = free_port()) };
        location / {
            session_signature miniapp secret_file=$sec/miniapp.secret;
            return 200;
        }
    }
HTTP
my $port = $nginx->{port};

my $ms = do { open my $f, '<', "$sec/miniapp.secret" or die; my $l = <$f>;
              chomp $l; $l };
my $n = 0;

sub put {
    my ($path, $body, %h) = @_;
    return http_request($port, "PUT $path", \%h, $body);
}

sub stored {
    my ($name) = @_;
    open my $f, '<', "$store/$name" or return undef;
    binmode $f;
    local $/;
    return <$f>;
}

sub miniapp_headers {
    my ($body, %o) = @_;
    my $ts = $o{ts} // time;
    return ('X-Timestamp' => $ts,
            'X-Miniapp-Signature' => hmac_sha256_hex("$ts.$body",
                                                     $o{secret} // $ms));
}

# --- bodies of every size verify and reach the upstream byte for byte
for my $len (0, 1, 8192, 8193, 300_000) {
    my $body = join '', map { chr(($_ * 7 + $len) % 256) } 0 .. $len - 1;
    my $name = "m" . ++$n;
    my $r = put("/miniapp/$name", $body, miniapp_headers($body));
    ok($r->{status} == 201 || $r->{status} == 204,
       "miniapp: $len-byte body verified ($r->{status})");
    my $got = stored($name);
    is(defined $got ? sha256_hex($got) : 'none', sha256_hex($body),
       "miniapp: the upstream got the $len bytes intact");
}

# --- one flipped byte in body, signature, timestamp, secret
my $body = '{"order":42,"paid":true}';
my %h = miniapp_headers($body);
my $flip = $body; substr($flip, 5, 1) = 'X';
is(put("/miniapp/f1", $flip, %h)->{status}, 401, 'flipped body byte: 401');
my %hs = %h;
substr($hs{'X-Miniapp-Signature'}, 10, 1) =~ tr/0-9a-f/1-9a-f0/;
is(put("/miniapp/f2", $body, %hs)->{status}, 401,
   'flipped signature byte: 401');
my %ht = %h;
$ht{'X-Timestamp'} = $h{'X-Timestamp'} - 1;
is(put("/miniapp/f3", $body, %ht)->{status}, 401,
   'changed timestamp: 401');
is(put("/miniapp/f4", $body,
       miniapp_headers($body, secret => "${ms}x"))->{status}, 401,
   'another secret: 401');

# --- replay and staleness
my %once = miniapp_headers('replay me');
my $r1 = put("/miniapp/r1", 'replay me', %once);
ok($r1->{status} == 201 || $r1->{status} == 204, 'first delivery: accepted');
is(put("/miniapp/r1", 'replay me', %once)->{status}, 409,
   'the same signed request again: 409');
is(put("/miniapp-noreplay/r2", 'x',
       miniapp_headers('x', ts => time - 45))->{status}, 401,
   'older than the tolerance: 401');
is(put("/miniapp-noreplay/r3", 'x',
       miniapp_headers('x', ts => time + 45))->{status}, 401,
   'too far in the future: 401');
my %fresh = miniapp_headers('y');
ok(put("/miniapp-noreplay/r4", 'y', %fresh)->{status} < 300
   && put("/miniapp-noreplay/r4", 'y', %fresh)->{status} < 300,
   'replay=off: a second delivery passes');

# --- custom header names
my $ts = time;
my $cr = put("/custom/c1", 'custom', 'X-Ts' => $ts,
             'X-Sig' => hmac_sha256_hex("$ts.custom", $ms));
ok($cr->{status} < 300, 'header= and timestamp_header= are honoured');
is(put("/custom/c2", 'custom', miniapp_headers('custom'))->{status}, 401,
   '... and the default names are not used there');

# --- missing and malformed
is(put("/miniapp/x1", 'a')->{status}, 401, 'no signature: 401');
is(put("/miniapp/x2", 'a', 'X-Timestamp' => time,
       'X-Miniapp-Signature' => 'abc')->{status}, 401,
   'odd-length hex: 401');
is(put("/miniapp/x3", 'a', 'X-Timestamp' => 'yesterday',
       'X-Miniapp-Signature' => 'ab' x 32)->{status}, 401,
   'non-numeric timestamp: 401');
is(http_request($port, 'PUT /miniapp/x4', {
       'X-Timestamp' => time,
       'X-Miniapp-Signature' => [ 'ab' x 32, 'cd' x 32 ] }, 'a')->{status},
   401, 'duplicate signature header: 401');

# --- the published vectors, through nginx
my $gh = put("/vec/github/g1", 'Hello, World!', 'X-Hub-Signature-256' =>
    'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    'X-GitHub-Delivery' => 'd1');
ok($gh->{status} < 300, 'GitHub vector (second secret in the file)');

my $slack_body = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
my $sl = put("/vec/slack/s1", $slack_body,
    'X-Slack-Request-Timestamp' => 1531420618,
    'X-Slack-Signature' =>
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503');
ok($sl->{status} < 300, 'Slack vector (the published signature)');
is(put("/vec/slack/s2", $slack_body . ' ',
       'X-Slack-Request-Timestamp' => 1531420618,
       'X-Slack-Signature' =>
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503')
   ->{status}, 401, 'Slack vector with one more body byte: 401');

my $st = put("/vec/stripe/p1", '{"id":"evt_test","object":"event"}',
    'Stripe-Signature' => 't=1700000000,v1=deadbeef' . ('0' x 56)
        . ',v1=8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724');
ok($st->{status} < 300, 'Stripe vector, second of two v1 entries');

my $sw = put("/vec/standard/w1", '{"test": 2432232314}',
    'webhook-id' => 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp' => 1614265330,
    'webhook-signature' => 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= '
        . 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
ok($sw->{status} < 300, 'Standard Webhooks vector, second of two entries');
is(put("/vec/standard/w2", '{"test": 2432232314}',
    'webhook-id' => 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp' => 1614265330,
    'webhook-signature' => 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
   ->{status}, 409,
   'Standard Webhooks: the same id, timestamp and body again (with only '
   . 'one of the signatures): 409');

# --- Redis down: fail closed
redis_stop($redis);
is(put("/miniapp/z1", 'z', miniapp_headers('z'))->{status}, 503,
   'Redis down with replay protection: 503');

unlike(SessionTest::error_log($nginx), qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in the error log');

done_testing();
