# Every path a request takes through nginx (issue 16): subrequests
# (auth_request, SSI, mirror) are checked like any request; an internal
# redirect (try_files @named, error_page = /uri) carries the verified
# result, so one request costs one lookup and one replay key; a login
# answered with X-Accel-Redirect is refused loudly, not dropped.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use Digest::SHA qw(hmac_sha256_hex);
use Time::HiRes qw(sleep);

my $keys = test_keys_dir();
my $sec = "$FindBin::Bin/secrets";
chmod 0600, glob("$sec/*");
my $redis = redis_start();
my $rport = $redis->{port};
my $dead = free_port();

my $nginx = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport prefix=t130:;
    session_cookie sid secure=off;

    server {
        listen 127.0.0.1:\$PORT;

        location = /ok { return 200 "ok\\n"; }
        location = /echo-user { return 200 "user=\$http_x_user\\n"; }

        # auth_request into a protected location
        location = /authreq {
            auth_request /_check;
            auth_request_set \$who \$session_user;
            add_header X-Who "[\$who]" always;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /_check {
            internal;
            session_required on;
            proxy_pass http://127.0.0.1:\$PORT/ok;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location = /authreq-claim {
            auth_request /_check_claim;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /_check_claim {
            internal;
            session_required on;
            session_require_claim role admin;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /authreq-login {
            auth_request /_check_login;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /_check_login {
            internal;
            session_required on;
            session_login_url /login-page;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }

        # SSI: an open page includes a protected one
        location = /page {
            ssi on;
            ssi_types text/plain;
            proxy_pass http://127.0.0.1:\$PORT/page-src;
        }
        location = /page-src {
            return 200 "A<!--# include virtual=\\"/app/secret\\" -->B\\n";
        }
        location /app/ {
            session_required on;
            proxy_set_header X-User \$session_user;
            rewrite ^ /secret-src break;
            proxy_pass http://127.0.0.1:\$PORT;
        }
        location = /secret-src { return 200 "SECRET(\$http_x_user)"; }

        # mirror into a protected location
        location = /mirrored {
            mirror /_m;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /_m {
            internal;
            session_required on;
            proxy_set_header X-User \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/mirror-hit;
        }
        location = /mirror-hit { return 204; }

        # internal redirects with a session
        location /tf/ {
            session_required on;
            try_files /nonexistent \@named;
        }
        location \@named {
            session_required on;
            proxy_set_header X-User \$session_user;
            rewrite ^ /echo-user break;
            proxy_pass http://127.0.0.1:\$PORT;
        }
        location = /ep {
            session_required on;
            proxy_intercept_errors on;
            error_page 404 = /ep-fallback;
            proxy_pass http://127.0.0.1:\$PORT/nf;
        }
        location = /nf { return 404; }
        location = /ep-fallback {
            session_required on;
            proxy_set_header X-User \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo-user;
        }

        location = /xa {
            session_required on;
            proxy_pass http://127.0.0.1:\$PORT/xa-app;
        }
        location = /xa-app {
            add_header X-Accel-Redirect /xa-target;
            return 200;
        }
        location = /xa-target {
            internal;
            session_required on;
            proxy_set_header X-User \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo-user;
        }

        # a signed webhook whose primary upstream is down fails over
        location /hooks/ {
            session_signature miniapp secret_file=$sec/miniapp.secret;
            error_page 502 = /hooks/fallback;
            proxy_pass http://127.0.0.1:$dead/;
        }
        location = /hooks/fallback {
            session_signature miniapp secret_file=$sec/miniapp.secret;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location /hooks-other/ {
            session_signature miniapp secret_file=$sec/miniapp.secret;
            error_page 502 = /other-fallback;
            proxy_pass http://127.0.0.1:$dead/;
        }
        location = /other-fallback {
            session_signature github secret_file=$sec/github.secret;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /signed-ssi {
            session_signature miniapp secret_file=$sec/miniapp.secret
                              replay=off;
            ssi on;
            ssi_types text/plain;
            proxy_pass http://127.0.0.1:\$PORT/signed-src;
        }
        location = /signed-src {
            return 200 "<!--# include virtual=\\"/signed-part\\" -->\\n";
        }
        location = /signed-part {
            session_signature miniapp secret_file=$sec/miniapp.secret
                              replay=off;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /unsigned-ssi {
            ssi on;
            ssi_types text/plain;
            proxy_pass http://127.0.0.1:\$PORT/signed-src;
        }

        # the login app answers with X-Accel-Redirect
        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/login-app;
        }
        location = /login-app {
            add_header X-Session-Subject alice;
            add_header X-Accel-Redirect /welcome;
            return 200;
        }
        location = /welcome {
            internal;
            proxy_pass http://127.0.0.1:\$PORT/ok;
        }
        location = /login-plain {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/login-app-plain;
        }
        location = /login-app-plain {
            add_header X-Accel-Redirect /welcome;
            return 200;
        }

        location = /metrics { session_metrics; }
    }
HTTP
my $port = $nginx->{port};

sub cookie {
    my ($user, @claims) = @_;
    my ($c, $rc) = sessionctl('--keys', "$keys/ring1.keys",
                              '--redis', "127.0.0.1:$rport",
                              '--prefix', 't130:', 'create', $user,
                              @claims);
    die "sessionctl create failed\n" if $rc || $c eq '';
    return $c;
}

sub dechunk {
    my ($r) = @_;
    return $r unless ($r->{headers}{'transfer-encoding'}[0] // '') =~ /chunked/;
    my ($in, $out) = ($r->{body}, '');
    while ($in =~ s/^([0-9a-fA-F]+)\r\n//) {
        my $n = hex $1;
        last if $n == 0;
        $out .= substr($in, 0, $n, '');
        $in =~ s/^\r\n//;
    }
    $r->{body} = $out;
    return $r;
}

sub get {
    my ($path, %h) = @_;
    return dechunk(http_request($port, "GET $path", \%h));
}

sub post {
    my ($path, $body, %h) = @_;
    return dechunk(http_request($port, "POST $path", \%h, $body));
}

# lookups: the HGET of a record's "lk" (src/session_store.h)
sub lookup_calls {
    my $s = redis_cli($redis, 'INFO', 'commandstats');
    return $s =~ /cmdstat_hget:calls=(\d+)/ ? $1 : 0;
}

sub validations {
    my $b = get('/metrics')->{body} // '';
    my $n = 0;
    $n += $1 while $b =~ /^nginx_session_validations_total\{[^}]*\} (\d+)/mg;
    return $n;
}

my $c = cookie('sam');
my $forged = $c;
substr($forged, -3, 1) = substr($forged, -3, 1) eq 'A' ? 'B' : 'A';

# --- 1. auth_request: the subrequest is checked
my $r = get('/authreq');
is($r->{status}, 401, 'auth_request: no cookie is 401, not the content');
isnt($r->{body} // '', "ok\n", 'auth_request: no cookie gets no content');
is(get('/authreq', Cookie => "sid=$forged")->{status}, 401,
   'auth_request: a forged cookie is 401');
$r = get('/authreq', Cookie => "sid=$c");
is($r->{status}, 200, 'auth_request: a valid session passes');
is($r->{headers}{'x-who'}[0], '[sam]',
   'auth_request: the subrequest sees $session_user');
is(get('/authreq-claim', Cookie => "sid=$c")->{status}, 403,
   'auth_request: a missing claim in the subrequest is 403');
is(get('/authreq-claim', Cookie => 'sid=' . cookie('ann', 'role=admin'))
       ->{status}, 200,
   'auth_request: the claim present passes');
is(get('/authreq-login', Accept => 'text/html')->{status}, 401,
   'auth_request: a subrequest is answered 401, never redirected to login');

# --- SSI include virtual
$r = get('/page');
unlike($r->{body} // '', qr/SECRET/, 'SSI: no session, no protected content');
like($r->{body} // '', qr/^A.*B$/s, 'SSI: the open page is served');
$r = get('/page', Cookie => "sid=$c");
like($r->{body} // '', qr/^ASECRET\(sam\)B$/,
     'SSI: with a session the include gets it and $session_user');

# --- mirror
my $log = "$nginx->{root}/logs/error.log";
sub mirror_hits {
    open my $f, '<', "$nginx->{root}/logs/access.log" or return 0;
    my $n = grep { m{"GET /mirror-hit } } <$f>;
    return $n;
}
my $before = mirror_hits();
is(get('/mirrored')->{status}, 200, 'mirror: the main request is served');
sleep 0.5 * SessionTest::slow();
is(mirror_hits() - $before, 0,
   'mirror: no session, the protected mirror target is not reached');
is(get('/mirrored', Cookie => "sid=$c")->{status}, 200,
   'mirror: with a session');
my $hit = 0;
for (1 .. 40 * SessionTest::slow()) { $hit = mirror_hits() - $before; last if $hit; sleep 0.1 }
is($hit, 1, 'mirror: with a session the mirror target is reached');

# --- signed subrequests: the main request's verified signature counts
my $ms = do { open my $f, '<', "$sec/miniapp.secret" or die; my $l = <$f>;
              chomp $l; $l };
sub signed {
    my ($body, %o) = @_;
    my $ts = $o{ts} // time;
    return ('X-Timestamp' => $ts,
            'X-Miniapp-Signature' => hmac_sha256_hex("$ts.$body",
                                                     $o{secret} // $ms));
}
$r = post('/signed-ssi', 'b1', signed('b1'));
is($r->{status}, 200, 'signed SSI page verified');
like($r->{body} // '', qr/^ok$/m,
     'signed: the subrequest passes on the main request\'s signature');
$r = post('/unsigned-ssi', 'b2', signed('b2'));
unlike($r->{body} // '', qr/^ok$/m,
       'signed: a subrequest into a signed location from an unsigned '
       . 'page is refused');

# --- 2. internal redirects: one request, one lookup
my $h0 = lookup_calls();
my $v0 = validations();
$r = get('/tf/x', Cookie => "sid=$c");
is($r->{body}, "user=sam\n", 'try_files @named: served with the session');
is(lookup_calls() - $h0, 1, 'try_files @named: one Redis lookup');
is(validations() - $v0, 1, 'try_files @named: one validation counted');

$h0 = lookup_calls();
$r = get('/ep', Cookie => "sid=$c");
is($r->{body}, "user=sam\n", 'error_page = /uri: served with the session');
is(lookup_calls() - $h0, 1, 'error_page = /uri: one Redis lookup');

$h0 = lookup_calls();
$r = get('/xa', Cookie => "sid=$c");
is($r->{body}, "user=sam\n", 'X-Accel-Redirect: served with the session');
is(lookup_calls() - $h0, 1, 'X-Accel-Redirect: one Redis lookup');

$h0 = lookup_calls();
is(get('/tf/x')->{status}, 401, 'try_files @named: no cookie is 401');
is(lookup_calls() - $h0, 0, 'no cookie: no lookup');

# the webhook fails over: 200, not a 409 from its own replay key
my $body = '{"event":"paid"}';
$r = post('/hooks/a', $body, signed($body));
is($r->{status}, 200, 'signed webhook fails over with error_page: 200');
is($r->{body}, "ok\n", 'the fallback answered');
$body = '{"event":"other"}';
$r = post('/hooks-other/a', $body, signed($body));
is($r->{status}, 401,
   'a redirect into a location with other secrets is refused');

# --- 4. X-Accel-Redirect from the login app
my $errs = SessionTest::error_log($nginx);
$r = get('/login');
is($r->{status}, 502, 'login with X-Accel-Redirect: refused with 502');
ok(!defined set_cookie($r, 'sid'), 'login with X-Accel-Redirect: no cookie');
like(substr(SessionTest::error_log($nginx), length $errs),
     qr/X-Accel-Redirect.*X-Session-Subject.*refused/,
     'login with X-Accel-Redirect: logged');
$r = get('/login-plain');
is($r->{status}, 200,
   'X-Accel-Redirect from a login location without X-Session-*: served');

done_testing();
