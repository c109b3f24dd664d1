# "satisfy all" and "satisfy any" with every access directive of the
# module, next to allow/deny and auth_basic (docs/directives.md, "Access
# control with satisfy").  Only a positive authentication satisfies
# "any": a valid session where it is required, a valid signature, valid
# Telegram initData.  No session (or an optional one) never grants
# anything: the other handlers decide.  Issue 11, item 2.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);

my $keys = test_keys_dir();
my $sec = "$FindBin::Bin/secrets";
chmod 0600, glob("$sec/*");
my $redis = redis_start();
my $rport = $redis->{port};

# an htpasswd file: user "u", password "pw"
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $hash = `openssl passwd -apr1 pw`;
chomp $hash;
die "openssl passwd failed\n" unless $hash =~ /^\$apr1\$/;
open my $fh, '>', "$dir/htpasswd" or die $!;
print $fh "u:$hash\n";
close $fh;
chmod 0644, "$dir/htpasswd";

my %dir = (
    on    => 'session_required on;',
    opt   => 'session_required optional;',
    issue => 'session_issue on;',
    sig   => "session_signature github secret_file=$sec/github.secret "
             . "replay=off;",
    tg    => "session_telegram bot_token_file=$sec/bot.token max_age=30y;",
);

my %mode = (
    # both the address check and auth_basic must pass, and the directive
    all      => "satisfy all; allow 127.0.0.1; deny all;\n"
                . "auth_basic x; auth_basic_user_file $dir/htpasswd;",
    # any one of: the directive, auth_basic (the address is denied)
    any      => "satisfy any; deny all;\n"
                . "auth_basic x; auth_basic_user_file $dir/htpasswd;",
    # any one of: the directive, the address (allowed)
    anyallow => "satisfy any; allow 127.0.0.1; deny all;",
    # any one of: the directive, the address (denied)
    anydeny  => "satisfy any; allow 10.9.9.9; deny all;",
);

my $locations = '';
for my $m (sort keys %mode) {
    for my $d (sort keys %dir) {
        my $login = $d eq 'on' ? 'session_login_url /login;' : '';
        $locations .= <<"LOC";
        location /$m-$d/ {
            $mode{$m}
            $dir{$d}
            $login
            proxy_pass http://127.0.0.1:\$PORT/echo/;
        }
LOC
    }
}

my $nginx = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport timeout=1s;
    session_cookie sid secure=off;

    server {
        listen 127.0.0.1:\$PORT;
$locations
        location /echo/ { return 200 "ok\\n"; }
    }
HTTP
my $port = $nginx->{port};

my $cookie = sessionctl('--keys', "$keys/ring1.keys",
                        '--redis', "127.0.0.1:$rport", 'create', 'alice');
like($cookie, qr/^k1\./, 'a session cookie');

# under valgrind the worker's first connection to Redis can take seconds:
# wait (bounded) until a session is answered for
for (1 .. 60) {
    last if http_request($port, 'GET /anydeny-on/x',
                         { Cookie => "sid=$cookie" })->{status} != 503;
    sleep 0.5;
}

# the published GitHub vector (second secret of github.secret)
my $gh_body = 'Hello, World!';
my $gh_sig = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c'
           . '8b043e17';
# the published first-party Telegram vector (bot.token)
my $tg = 'tma user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav'
  . '%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22'
  . '%2C%22language_code%22%3A%22en%22%2C%22is_premium%22%3Atrue%2C%22allows'
  . '_write_to_pm%22%3Atrue%7D&chat_instance=-3788475317572404878&chat_type='
  . 'private&auth_date=1709144340&hash=371697738012ebd26a111ace4aff23ee265596'
  . 'cd64026c8c3677956a85ca1827';

# the directive's own credential: valid, forged or none
sub cred {
    my ($d, $kind) = @_;
    return {} if $kind eq 'none';
    my $bad = $kind eq 'forged';
    if ($d eq 'sig') {
        (my $s = $gh_sig) =~ s/17$/18/ if $bad;
        return { 'X-Hub-Signature-256' => $bad ? $s : $gh_sig,
                 'X-GitHub-Delivery' => 'd1' };
    }
    if ($d eq 'tg') {
        (my $t = $tg) =~ s/27$/28/ if $bad;
        return { Authorization => $bad ? $t : $tg };
    }
    (my $c = $cookie) =~ s/.$/$& eq 'A' ? 'B' : 'A'/e if $bad;
    return { Cookie => 'sid=' . ($bad ? $c : $cookie) };
}

sub status {
    my ($m, $d, $kind, $basic, %extra) = @_;
    my $h = { %{ cred($d, $kind) }, %extra };
    # Telegram's credential is an Authorization header itself: both at once
    # cannot be sent, so auth_basic cells use the other directives
    $h->{Authorization} = 'Basic ' . 'dTpwdw==' if $basic;    # u:pw
    my $get = delete $h->{GET};
    return http_request($port, ($get ? "GET" : "PUT") . " /$m-$d/x", $h,
                        $get ? undef : $gh_body)->{status};
}

my @d = qw(on opt issue sig tg);

# --- satisfy all: the directive, the address and auth_basic must all pass
for my $d (@d) {
    next if $d eq 'tg';
    is(status('all', $d, 'valid', 1), 200, "all/$d: valid + basic: 200");
    is(status('all', $d, 'valid', 0), 401,
       "all/$d: valid, no basic: 401 (auth_basic)");
    is(status('all', $d, 'none', 1),
       { on => 401, opt => 200, issue => 200, sig => 401 }->{$d},
       "all/$d: nothing of the directive, basic");
}
is(status('all', 'tg', 'none', 1), 401,
   'all/tg: no initData, basic: 401');
is(status('all', 'tg', 'valid', 0), 401,
   'all/tg: initData, no basic: 401 (auth_basic)');

# --- satisfy any, the address denied: the directive or auth_basic
my %any_valid = (on => 200, opt => 401, issue => 401, sig => 200, tg => 200);
for my $d (@d) {
    is(status('any', $d, 'valid', 0), $any_valid{$d},
       "any/$d: the directive's credential alone");
    is(status('any', $d, 'none', 0), 401, "any/$d: nothing: 401");
    is(status('any', $d, 'forged', 0), 401, "any/$d: forged: 401");
    next if $d eq 'tg';
    is(status('any', $d, 'none', 1), 200, "any/$d: auth_basic alone: 200");
    is(status('any', $d, 'forged', 1), 200,
       "any/$d: forged, auth_basic: 200");
}

# --- satisfy any, the address allowed: it grants without the directive
for my $d (@d) {
    is(status('anyallow', $d, 'none', 0), 200,
       "anyallow/$d: no credential, allowed address: 200");
    is(status('anyallow', $d, 'valid', 0), 200,
       "anyallow/$d: valid, allowed address: 200");
}
is(status('anyallow', 'on', 'none', 0, GET => 1, Accept => 'text/html'),
   200,
   'anyallow/on: a browser navigation is not sent to the login page');

# --- satisfy any, the address denied, no auth_basic (the issue's repro)
my %deny_valid = (on => 200, opt => 403, issue => 403, sig => 200, tg => 200);
for my $d (@d) {
    # a 401 of the module's handlers sticks, as auth_basic's does
    is(status('anydeny', $d, 'none', 0),
       { on => 401, opt => 403, issue => 403, sig => 401, tg => 401 }->{$d},
       "anydeny/$d: no credential");
    is(status('anydeny', $d, 'valid', 0), $deny_valid{$d},
       "anydeny/$d: the directive's credential alone");
}

# --- Redis down: a required session fails closed, an optional one decides
# nothing
redis_stop($redis);
is(status('anydeny', 'on', 'valid', 0), 503,
   'anydeny/on: redis down: 503');
is(status('anydeny', 'opt', 'valid', 0), 403,
   'anydeny/opt: redis down: 403 (deny decides)');
is(status('anydeny', 'issue', 'valid', 0), 403,
   'anydeny/issue: redis down: 403 (deny decides)');
is(status('anyallow', 'opt', 'valid', 0), 200,
   'anyallow/opt: redis down: 200 (allow decides)');
is(status('all', 'opt', 'valid', 1), 200,
   'all/opt: redis down: 200 (optional)');

done_testing();
