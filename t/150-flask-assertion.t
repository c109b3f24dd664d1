# The demo's Flask app (demo/app.py) verifies the identity assertion with
# PyJWT itself (issue 14 item 4): a request that reaches it directly with a
# forged X-User-Id, or with a forged, expired, wrong-audience or unsigned
# assertion, is refused by Flask; the real one through nginx works.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use File::Temp qw(tempdir);
use JSON::PP;

my $python = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with python3-flask and python3-jwt'
    unless system("$python -c 'import flask, jwt, cryptography' "
                  . "2>/dev/null") == 0;

my $keys = test_keys_dir();
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $redis = redis_start();
my $rport = $redis->{port};
sessionctl('assertion-keygen', "$dir/assert.keys", '--kid', 'demo1');

my $aport = free_port();
my $n = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;
    session_assertion_keys $dir/assert.keys;

    server {
        listen 127.0.0.1:\$PORT;
        location / {
            session_required on;
            session_assertion audience=bot-admin issuer=demo-edge;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:$aport;
        }
        location /docs/ {
            session_required on;
            session_assertion audience=docs issuer=demo-edge;
            proxy_pass http://127.0.0.1:$aport/;
        }
        location = /.well-known/jwks.json { session_jwks; }
    }
HTTP
my $port = $n->{port};

my $pid = fork // die $!;
if (!$pid) {
    open STDOUT, '>', "$dir/app.log";
    open STDERR, '>&', \*STDOUT;
    exec $python, "$FindBin::Bin/../demo/app.py", '--port', $aport,
         '--jwks', "http://127.0.0.1:$port/.well-known/jwks.json";
    exit 127;
}
END { if ($pid) { local $?; kill 'TERM', $pid; waitpid $pid, 0; } }
ok(wait_port($aport, 1, 20), 'the Flask app is up');

my $cookie = sessionctl('--keys', "$keys/ring1.keys",
                        '--redis', "127.0.0.1:$rport",
                        'create', 'demo', 'role=admin');

# through nginx
my $r = http_request($port, 'GET /api/whoami', { Cookie => "sid=$cookie" });
is($r->{status}, 200, 'through nginx: 200');
my $me = eval { decode_json($r->{body}) } // {};
is($me->{user}, 'demo', '... the user from the verified assertion');
is($me->{role}, 'admin', '... the role claim from it');

# an assertion for another service is not accepted by this one
my $raw = http_request($port, 'GET /docs/api/whoami',
                       { Cookie => "sid=$cookie" });
is($raw->{status}, 401, 'a token for audience "docs" is refused by the '
                        . 'bot admin (the audience rule)');

# directly, around nginx
sub direct {
    my (%h) = @_;
    return http_request($aport, 'GET /api/whoami', \%h)->{status};
}
is(direct('X-User-Id' => 'demo', 'X-User-Role' => 'admin'), 401,
   'directly with a forged X-User-Id: 401 from Flask');

# tokens minted here with PyJWT: another key, the real key but expired,
# the real key for another audience, alg none
my $seed = (split ' ', do { local (@ARGV, $/) = "$dir/assert.keys"; <> })[1];
sub mint {
    my ($which) = @_;
    my $out = `$python - '$seed' '$which' <<'PY'
import base64, sys, time
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
seed, which = sys.argv[1], sys.argv[2]
raw = base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4))
real = Ed25519PrivateKey.from_private_bytes(raw)
now = int(time.time())
claims = {"iss": "demo-edge", "sub": "demo", "aud": "bot-admin",
          "iat": now, "exp": now + 60, "role": "admin", "amr": ["cookie"]}
key = real
if which == "forged":
    key = Ed25519PrivateKey.generate()
elif which == "expired":
    claims.update(iat=now - 600, exp=now - 300)
elif which == "audience":
    claims.update(aud="docs")
elif which == "issuer":
    claims.update(iss="elsewhere")
if which == "none":
    print(jwt.encode(claims, None, algorithm="none", headers={"kid": "demo1"}))
else:
    print(jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "demo1"}))
PY`;
    chomp $out;
    return $out;
}

is(direct('X-Session-Assertion' => mint('good'), 'X-User-Id' => 'demo'),
   200, 'directly with a token signed by the real key: accepted '
        . '(the key, not the path, is what counts)');
for my $bad (qw(forged expired audience issuer none)) {
    is(direct('X-Session-Assertion' => mint($bad), 'X-User-Id' => 'demo'),
       401, "directly with a $bad assertion: 401 from Flask");
}
is(direct('X-Session-Assertion' => 'not.a.jwt'), 401,
   'directly with garbage: 401');

# the refusals are Flask's own: its log says why
my $log = do { local (@ARGV, $/) = "$dir/app.log"; <> } // '';
like($log, qr/assertion refused: InvalidSignatureError/,
     'Flask logged the forged signature');
like($log, qr/assertion refused: ExpiredSignatureError/,
     '... the expired token');
like($log, qr/assertion refused: InvalidAudienceError/,
     '... the wrong audience');
like($log, qr/X-User-Id without an assertion: refused/,
     '... and the bare X-User-Id');

done_testing();
