# session_assertion (issue 14): the signed identity assertion an upstream
# receives, verified here with a stock library (PyJWT) against the JWKS
# nginx serves; the client's own header never reaches an upstream (proxy
# and FastCGI); reuse, expiry, key rotation; session_assertion_keys and
# the directive's bounds under "nginx -t".
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(sleep time);

my $python = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with python3-jwt'
    unless system("$python -c 'import jwt, cryptography' 2>/dev/null") == 0;

my $keys = test_keys_dir();
my $dir = tempdir(CLEANUP => 1);
my $redis = redis_start();
my $rport = $redis->{port};

sub ctl { sessionctl('--keys', "$keys/ring1.keys",
                     '--redis', "127.0.0.1:$rport", @_) }

my (undef, $rc) = sessionctl('assertion-keygen', "$dir/assert.keys",
                             '--kid', 'a1');
is($rc, 0, 'sessionctl assertion-keygen');

# --- (below) an upstream that answers with the request it received, raw: HTTP, or
# FastCGI (the request's records as the response body)
# the FastCGI request ends with an empty FCGI_STDIN record
sub fcgi_done {
    my ($in) = @_;
    my $off = 0;
    while (length($in) - $off >= 8) {
        my ($v, $type, $id, $len, $pad) = unpack('CCnnC', substr($in, $off, 8));
        return 1 if $type == 5 && $len == 0;
        $off += 8 + $len + $pad;
    }
    return 0;
}

my @kids;
sub start_capture {
    my ($mode) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 16, ReuseAddr => 1) or die $!;
    my $port = $l->sockport;
    my $pid = fork // die $!;
    if (!$pid) {
        while (my $c = $l->accept) {
            my $in = '';
            my $sel = IO::Select->new($c);
            while ($sel->can_read(5)) {
                my $n = sysread $c, my $buf, 65536;
                last unless $n;
                $in .= $buf;
                last if $mode eq 'http' && $in =~ /\r\n\r\n/;
                last if $mode eq 'fcgi' && fcgi_done($in);
            }
            if ($mode eq 'http') {
                print $c "HTTP/1.1 200 OK\r\nContent-Length: "
                    . length($in) . "\r\nConnection: close\r\n\r\n$in";
            } else {
                my $out = "Content-Type: text/plain\r\n\r\n$in";
                my $resp = '';
                while (length $out) {
                    my $chunk = substr($out, 0, 32768, '');
                    $resp .= pack('CCnnCC', 1, 6, 1, length $chunk, 0, 0)
                             . $chunk;
                }
                $resp .= pack('CCnnCC', 1, 6, 1, 0, 0, 0);
                $resp .= pack('CCnnCC', 1, 3, 1, 8, 0, 0)
                         . pack('NCCCC', 0, 0, 0, 0, 0);
                print $c $resp;
            }
            close $c;
        }
        exit 0;
    }
    close $l;
    push @kids, $pid;
    return $port;
}
END { local $?; kill 'TERM', @kids if @kids; waitpid($_, 0) for @kids; }

my $hport = start_capture('http');
my $fport = start_capture('fcgi');

# an HTTP/2 upstream for grpc_pass that answers with the decoded request
# headers (t/lib/grpc_capture.py, Debian's python3-hpack)
# a package variable: a lexical pipe would be closed (waiting for the
# server to exit) before the END block that stops it
our $gfh;
my $gport = 0;
my $has_hpack = system("$python -c 'import hpack' 2>/dev/null") == 0;
if ($has_hpack) {
    my $gpid = open($gfh, '-|', $python, "$FindBin::Bin/lib/grpc_capture.py")
        or die "grpc_capture: $!";
    push @kids, $gpid;
    $gport = <$gfh> // 0;
    chomp $gport;
}

sub edge {
    # one worker: the reuse of a signed token is per worker
    return nginx_start(workers => 1, http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;
    session_assertion_keys $dir/assert.keys;
    session_cache zone=sess:1m valid=30s;

    server {
        listen 127.0.0.1:\$PORT;

        location /p {
            session_required on;
            session_assertion audience=cabinet issuer=edge;
            add_header X-Sid \$session_id;
            proxy_pass http://127.0.0.1:$hport;
        }
        location /opt {
            session_required optional;
            session_assertion header=X-Identity;
            proxy_pass http://127.0.0.1:$hport;
        }
        location /plain {
            session_assertion;
            proxy_pass http://127.0.0.1:$hport;
        }
        location /short {
            session_required on;
            session_assertion ttl=2s;
            proxy_pass http://127.0.0.1:$hport;
        }
        location /fcgi {
            session_required optional;
            session_assertion audience=php;
            include /etc/nginx/fastcgi_params;
            fastcgi_pass 127.0.0.1:$fport;
        }
        location /grpc {
            session_required optional;
            session_assertion audience=grpc;
            grpc_pass grpc://127.0.0.1:$gport;
        }
        location /var {
            session_required on;
            session_assertion audience=var;
            proxy_set_header X-Session-Assertion "";
            proxy_set_header X-Copy \$session_assertion;
            proxy_pass http://127.0.0.1:$hport;
        }
        location = /jwks { session_jwks; }
    }
HTTP
}

my $n = edge();
my $port = $n->{port};
my $jwks_url = "http://127.0.0.1:$port/jwks";

sub get {
    my ($path, $cookie, %h) = @_;
    $h{Cookie} = "sid=$cookie" if $cookie;
    return http_request($port, "GET $path", \%h);
}

# the values of header NAME in a captured raw HTTP request
sub sent {
    my ($raw, $name) = @_;
    my ($head) = split /\r\n\r\n/, $raw // '', 2;
    return map { /^\Q$name\E:\s*(.*)$/i ? $1 : () } split /\r\n/, $head // '';
}

sub verify {
    my ($token, $aud, $iss) = @_;
    my $tf = "$dir/token";
    open my $fh, '>', $tf or die $!;
    print $fh $token // '';
    close $fh;
    my $out = `$python $FindBin::Bin/lib/verify_assertion.py '$jwks_url' '$aud' ${\($iss // '')} < $tf 2>&1`;
    chomp $out;
    return $out =~ /^\{/ ? decode_json($out) : $out;
}

# --- contents
my $cookie = ctl('create', "al\"ice", 'role=admin', 'sub=root', 'aud=x',
                 'team=a"b');
my ($cre) = map { redis_cli($redis, 'HGET', $_, 'cre') =~ /(\d+)/ }
            grep { redis_cli($redis, 'HGET', $_, 'sub') =~ /al"ice/ }
            split /\s+/, redis_cli($redis, 'KEYS', 'session:s:*');
my $t0 = time;
my $r = get('/p', $cookie);
is($r->{status}, 200, 'a valid session is proxied');
my @a = sent($r->{body}, 'X-Session-Assertion');
is(scalar @a, 1, '... with one X-Session-Assertion header');
my $first = $a[0];
my $v = verify($a[0], 'cabinet', 'edge');
ok(ref $v, 'PyJWT verifies it against the JWKS (audience, issuer)')
    or diag $v;
$v = {} unless ref $v;
my $c = $v->{claims} // {};
is_deeply($v->{header}, { alg => 'EdDSA', typ => 'JWT', kid => 'a1' },
          '... header: EdDSA, JWT, the signing kid');
is($c->{sub}, "al\"ice", '... sub: the subject, JSON-escaped and back');
is($c->{aud}, 'cabinet', '... aud');
is($c->{iss}, 'edge', '... iss');
is($c->{sid}, $r->{headers}{'x-sid'}[0], '... sid: $session_id');
is($c->{auth_time}, $cre, '... auth_time: when the session was created');
is_deeply($c->{amr}, ['cookie'], '... amr: cookie');
is($c->{role}, 'admin', '... the session claims');
is($c->{team}, 'a"b', '... decoded and escaped');
is($c->{exp} - $c->{iat}, 60, '... exp: iat + the default ttl of 60 s');
ok(abs($c->{iat} - $t0) <= 3, '... iat: now');

# the same session from session_cache (another location: signed anew)
my @o = sent(get('/opt', $cookie)->{body}, 'X-Identity');
my $vc = verify($o[0], 'backend');
is(ref $vc && $vc->{claims}{auth_time}, $cre,
   'from session_cache: auth_time too');
is(ref $vc && $vc->{claims}{sub}, "al\"ice", '... and the subject');

# a session made by a Telegram login ("tg:<id>"): amr telegram
my $tg = ctl('create', 'tg:4242');
my @t = sent(get('/p', $tg)->{body}, 'X-Session-Assertion');
my $vt = verify($t[0], 'cabinet', 'edge');
is_deeply(ref $vt && $vt->{claims}{amr}, ['telegram'],
          'a tg:<id> session: amr ["telegram"]');

my $v2 = verify($a[0], 'other');
like($v2, qr/InvalidAudience/, 'another audience is refused by PyJWT');

# --- reuse: the same token while more than ttl/2 remains
my @b = sent(get('/p', $cookie)->{body}, 'X-Session-Assertion');
is($b[0], $a[0], 'the next request reuses the signed token (same worker) '
                 . 'or makes an equal one')
    if time - $t0 < 20;

my @s1 = sent(get('/short', $cookie)->{body}, 'X-Session-Assertion');
my $cs = verify($s1[0], 'backend');
is(ref $cs && $cs->{claims}{exp} - $cs->{claims}{iat}, 2, 'ttl=2s: exp = iat + 2');
sleep 2.2;
my @s2 = sent(get('/short', $cookie)->{body}, 'X-Session-Assertion');
isnt($s2[0], $s1[0], 'after ttl/2 the token is signed again');
my $cs2 = verify($s2[0], 'backend');
ok(ref $cs2 && ref $cs && $cs2->{claims}{iat} > $cs->{claims}{iat},
   '... with a later iat');
like(verify($s1[0], 'backend'), qr/ExpiredSignature/,
     'the first token has expired for PyJWT (leeway 5 s aside: '
     . 'exp + 5 s passed)')
    if sleep(5) || 1;

# --- the client's own header never reaches an upstream
my $forged = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.';
$r = get('/p', $cookie, 'X-Session-Assertion' => [$forged, $forged]);
@a = sent($r->{body}, 'X-Session-Assertion');
is(scalar @a, 1, 'forged copies with a session: only one header upstream');
isnt($a[0], $forged, '... and it is nginx\'s');

$r = get('/opt', undef, 'X-Identity' => $forged);
is($r->{status}, 200, 'no session (optional): proxied');
is(scalar(sent($r->{body}, 'X-Identity')), 0,
   '... without the client\'s X-Identity');

$r = get('/opt', 'k1.bad.cookie', 'x-identity' => $forged);
is(scalar(sent($r->{body}, 'X-Identity')), 0,
   'an invalid cookie: the client\'s header (any case) is dropped');

$r = get('/opt', $cookie, 'X-Identity' => $forged);
@a = sent($r->{body}, 'X-Identity');
is(scalar @a, 1, 'header=X-Identity with a session: one header');
ok(ref verify($a[0], 'backend'), '... nginx\'s, default audience "backend"');

$r = get('/plain', $cookie, 'X-Session-Assertion' => $forged);
is(scalar(sent($r->{body}, 'X-Session-Assertion')), 0,
   'a location that reads no session: the client header is dropped, '
   . 'no token');

$r = get('/fcgi', $cookie, 'X-Session-Assertion' => $forged);
is($r->{status}, 200, 'fastcgi_pass');
my $raw = $r->{body};
unlike($raw, qr/\Q$forged\E/, '... the forged value never reaches FastCGI');
my ($ft) = $raw =~ /(eyJhbGciOiJFZERTQSI[A-Za-z0-9_.-]+)/;
ok($ft && ref verify($ft, 'php'), '... nginx\'s token does (HTTP_X_SESSION_ASSERTION)');
like($raw, qr/HTTP_X_SESSION_ASSERTION/, '... as HTTP_X_SESSION_ASSERTION');

$r = get('/fcgi', undef, 'X-Session-Assertion' => $forged);
unlike($r->{body}, qr/\Q$forged\E|HTTP_X_SESSION_ASSERTION/,
       'FastCGI without a session: no such param at all');

SKIP: {
    skip 'grpc: needs python3-hpack', 5 unless $has_hpack;
    $r = get('/grpc', $cookie, 'X-Session-Assertion' => [$forged, $forged]);
    is($r->{status}, 200, 'grpc_pass');
    my $hs = eval { decode_json($r->{body}) } // [];
    my @g = map { $_->[1] } grep { $_->[0] eq 'x-session-assertion' } @$hs;
    is(scalar @g, 1, '... one x-session-assertion reaches the gRPC upstream');
    isnt($g[0] // $forged, $forged, '... not the forged one');
    ok(ref verify($g[0], 'grpc'), '... nginx\'s token, verified');
    $r = get('/grpc', undef, 'X-Session-Assertion' => $forged);
    $hs = eval { decode_json($r->{body}) } // [];
    is(scalar(grep { $_->[0] eq 'x-session-assertion' } @$hs), 0,
       'grpc_pass without a session: the forged header is dropped');
}

$r = get('/var', $cookie);
my @cp = sent($r->{body}, 'X-Copy');
ok(@cp && ref verify($cp[0], 'var'), '$session_assertion holds the token');

# --- a revoked session: 401, never proxied
my $gone = ctl('create', 'gone');
ctl('revoke', $gone);
is(get('/p', $gone, 'X-Session-Assertion' => $forged)->{status}, 401,
   'a revoked session: 401');

# --- JWKS
$r = get('/jwks');
is($r->{status}, 200, 'session_jwks: 200');
is($r->{headers}{'cache-control'}[0], 'public, max-age=300',
   '... Cache-Control: public, max-age=300');
like($r->{headers}{'content-type'}[0], qr{^application/json}, '... JSON');
my $jwks = eval { decode_json($r->{body}) } // {};
is(scalar @{ $jwks->{keys} // [] }, 1, '... one key');
my $k = $jwks->{keys}[0] // {};
is(join(',', map { "$_=" . ($k->{$_} // '') } sort keys %$k),
   "alg=EdDSA,crv=Ed25519,kid=a1,kty=OKP,use=sig,x=$k->{x}",
   '... kty, crv, kid, x, use, alg; no "d"');
is(length($k->{x} // ''), 43, '... x: 32 bytes, base64url');
is(http_request($port, 'POST /jwks', {}, 'x')->{status}, 405, 'POST: 405');
is(http_request($port, 'HEAD /jwks')->{status}, 200, 'HEAD: 200');

# --- rotation: a new first key signs, the old one is still published
(undef, $rc) = sessionctl('assertion-rotate', "$dir/assert.keys",
                          '--kid', 'a2');
is($rc, 0, 'sessionctl assertion-rotate');
nginx_reload($n);
# the old workers stop accepting a moment after the new ones are ready
for (1 .. 50) {
    $jwks = eval { decode_json(get('/jwks')->{body}) } // {};
    last if @{ $jwks->{keys} // [] } == 2;
    sleep 0.1;
}
is(join(',', map { $_->{kid} } @{ $jwks->{keys} // [] }), 'a2,a1',
   'after the reload the JWKS lists the new key, then the old one')
    or diag SessionTest::error_log($n);
# (a request may still reach the old worker for a moment)
for (1 .. 50) {
    @a = sent(get('/opt', $cookie)->{body}, 'X-Identity');
    $v = verify($a[0], 'backend');
    last if ref $v && $v->{header}{kid} eq 'a2';
    sleep 0.1;
}
is(ref $v && $v->{header}{kid}, 'a2', 'new tokens are signed with a2');
my $ov = verify($first, 'cabinet', 'edge');
ok(ref $ov || $ov =~ /Expired/,
   'a token signed with a1 before the rotation still verifies '
   . '(or has merely expired)') or diag $ov;

# --- nginx -t: the key file and the directive's bounds
my $tdir = tempdir(CLEANUP => 1);
my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $modules = join '', map { "load_module $_;\n" }
                       split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
sub nginx_t {
    my ($http) = @_;
    mkdir "$tdir/logs";
    open my $fh, '>', "$tdir/nginx.conf" or die $!;
    print $fh "${modules}error_log $tdir/logs/error.log;\n"
            . "pid $tdir/logs/nginx.pid;\nevents {}\nhttp {\n$http\n}\n";
    close $fh;
    my $out = `$binary -t -p $tdir -c $tdir/nginx.conf 2>&1`;
    return ($out, $? >> 8);
}
sub keyfile {
    my ($name, $text, $mode) = @_;
    open my $fh, '>', "$tdir/$name" or die $!;
    print $fh $text;
    close $fh;
    chmod $mode // 0600, "$tdir/$name";
    return "$tdir/$name";
}
my $seed = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A';
my $good = keyfile('good.keys', "a1 $seed\n");
my @bad = (
    [ "session_assertion_keys $tdir/none.keys;",
      qr/"session_assertion_keys" cannot open ".*none\.keys"/, 'a missing file' ],
    [ "session_assertion_keys " . keyfile('empty.keys', '') . ";",
      qr/"session_assertion_keys" file ".*empty\.keys" is empty/, 'an empty file' ],
    [ "session_assertion_keys " . keyfile('c.keys', "# none\n") . ";",
      qr/"session_assertion_keys" file ".*c\.keys": no key found/, 'comments only' ],
    [ "session_assertion_keys " . keyfile('m.keys', "a1\n") . ";",
      qr/"session_assertion_keys" file ".*m\.keys" line 1: expected "<kid> <base64 seed>"/,
      'a malformed line' ],
    [ "session_assertion_keys " . keyfile('d.keys', "a1 $seed\n\na1 $seed\n") . ";",
      qr/"session_assertion_keys" file ".*d\.keys" line 3: duplicate key id "a1"/,
      'a duplicate key id' ],
    [ "session_assertion_keys " . keyfile('s.keys', "a1 " . ('A' x 64) . "\n") . ";",
      qr/line 1: seed is 48 bytes, an Ed25519 seed is 32/, 'a 48-byte secret' ],
    [ "session_assertion_keys $good; session_assertion_keys $good;",
      qr/"session_assertion_keys" directive is duplicate/, 'the directive twice' ],
    [ "session_assertion; server { location / { } }",
      qr/"session_assertion" needs "session_assertion_keys" in the http block/,
      'session_assertion without keys' ],
    [ "server { location /j { session_jwks; } }",
      qr/"session_jwks" .*needs "session_assertion_keys"/, 'session_jwks without keys' ],
    [ "session_assertion_keys $good; session_assertion ttl=6m;",
      qr/invalid "session_assertion" parameter "ttl=6m" \(ttl=TIME, 1s to 5m\)/,
      'ttl above 5 minutes' ],
    [ "session_assertion_keys $good; session_assertion ttl=0s;",
      qr/invalid "session_assertion" parameter "ttl=0s"/, 'ttl=0' ],
    [ "session_assertion_keys $good; session_assertion header=X:Bad;",
      qr/invalid "session_assertion" parameter "header=X:Bad"/, 'a bad header name' ],
    [ "session_assertion_keys $good; session_assertion audience=;",
      qr/invalid "session_assertion" parameter "audience="/, 'an empty audience' ],
    [ "session_assertion_keys $good; session_assertion color=red;",
      qr/invalid "session_assertion" parameter "color=red"/, 'an unknown parameter' ],
);
for my $b (@bad) {
    my ($conf, $re, $name) = @$b;
    my ($out, $rc) = nginx_t($conf);
    isnt($rc, 0, "nginx -t: $name fails");
    like($out, $re, '... with a clear message') or diag $out;
}
my $loose = keyfile('loose.keys', "a1 $seed\n", 0644);
my ($tout, $trc) = nginx_t("session_assertion_keys $loose; "
                           . "session_assertion ttl=5m; "
                           . "server { location /j { session_jwks; } }");
is($trc, 0, 'nginx -t: a key file readable by others passes');
like($tout, qr/\[warn\].*"session_assertion_keys" file ".*loose\.keys" is accessible by group or others \(mode 0644\), it should be 0600/,
     '... with the same warning as session_keys');

done_testing();
