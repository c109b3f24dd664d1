# HTTP/2: a client may send its cookies as several `cookie` header fields
# (RFC 9113 section 8.2.3, "cookie crumbs"; browsers do, for HPACK), where
# HTTP/1.1 has one Cookie line.  The session cookie must be found in any
# of them, planted duplicates must not win, and the login hand-off must
# set the cookie over HTTP/2 too.  curl --http2-prior-knowledge (h2c)
# against nginx's HTTP/2 module: `listen ... http2` before nginx 1.25.1,
# `http2 on` after.  Skipped when the nginx has no HTTP/2 module or curl
# no HTTP/2.
#
# HTTP/3 is not covered here: Debian's nginx 1.22 has no HTTP/3 module
# and Debian 12's curl no HTTP/3 client (curl -V lists no HTTP3 feature).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;

my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $nginx_v = `$binary -V 2>&1`;
plan skip_all => "$binary has no HTTP/2 module (--with-http_v2_module)"
    unless $nginx_v =~ /--with-http_v2_module/;
plan skip_all => 'curl has no HTTP/2 support'
    unless `curl -V 2>/dev/null` =~ /^Features:.*\bHTTP2\b/m;

my ($maj, $min, $pat) = $nginx_v =~ m{nginx/(\d+)\.(\d+)\.(\d+)};
my $new_syntax = sprintf('%d%03d%03d', $maj, $min, $pat) >= 1025001;

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};
my $backend = free_port();

my $listen = $new_syntax
    ? "listen 127.0.0.1:\$PORT;\n        http2 on;"
    : "listen 127.0.0.1:\$PORT http2;";

my $nginx = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport prefix=t130:;
    session_cookie sid secure=off;

    server {
        $listen

        location /p {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:$backend/echo;
        }
        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:$backend/backend/login;
        }
    }

    server {
        listen 127.0.0.1:$backend;
        location /echo {
            return 200 "user=[\$http_x_user_id] proto=[\$server_protocol]\\n";
        }
        location = /backend/login {
            add_header X-Session-Subject h2-login;
            return 302 /p;
        }
    }
HTTP
my $port = $nginx->{port};

sub cookie {
    my ($user) = @_;
    my ($c, $rc) = sessionctl('--keys', "$keys/ring1.keys",
                              '--redis', "127.0.0.1:$rport",
                              '--prefix', 't130:', 'create', $user);
    die "sessionctl create failed ($rc)\n" if $rc || $c eq '';
    return $c;
}

# h2(path, header lines...): one request over HTTP/2 with prior knowledge;
# returns { status, version, body, headers (raw), fields (the cookie
# header fields curl sent, as its trace shows them) }
sub h2 {
    my ($path, @headers) = @_;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my @cmd = ('curl', '-s', '--http2-prior-knowledge', '--max-time', '10',
               '-o', "$dir/body", '-D', "$dir/headers",
               '--trace-ascii', "$dir/trace",
               '-w', '%{http_code} %{http_version}',
               (map { ('-H', $_) } @headers),
               "http://127.0.0.1:$port$path");
    open my $fh, '-|', @cmd or die "curl: $!\n";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    my %r;
    @r{qw(status version)} = split ' ', $out;
    $r{status} //= 0;
    $r{version} //= '';
    for my $f (qw(body headers trace)) {
        open my $in, '<', "$dir/$f" or next;
        $r{$f} = do { local $/; <$in> };
    }
    $r{fields} = [ ($r{trace} // '') =~ /^(?:\S+: )?\[?cookie: ([^\]\r\n]*)/mgi ];
    return \%r;
}

my $one = cookie('h2-one');
my $two = cookie('h2-two');
my $many = cookie('h2-many');
my $real = cookie('h2-real');
my $forged = 'k1.' . ('A' x 43) . '.' . ('A' x 43);

my $r = h2('/p', "Cookie: sid=$one");
is($r->{version}, '2', 'the request went over HTTP/2');
is($r->{status}, 200, 'session cookie in the only cookie field: 200');
like($r->{body} // '', qr/^user=\[h2-one\]/, '... and the user is known');

$r = h2('/p', 'Cookie: theme=dark', "Cookie: sid=$two");
is(scalar @{ $r->{fields} }, 2, 'curl sent two cookie fields')
    or diag("fields seen in curl's trace: @{ $r->{fields} }");
is($r->{status}, 200, 'session cookie in the second cookie field: 200');
like($r->{body} // '', qr/^user=\[h2-two\]/, '... and the user is known');

$r = h2('/p', 'Cookie: a=1', "Cookie: b=2; sid=$many; c=3", 'Cookie: d=4');
is(scalar @{ $r->{fields} }, 3, 'curl sent three cookie fields');
is($r->{status}, 200, 'session cookie amid several in the middle field: 200');
like($r->{body} // '', qr/^user=\[h2-many\]/, '... and the user is known');

$r = h2('/p', "Cookie: sid=$forged", 'Cookie: x=y', "Cookie: sid=$real");
is($r->{status}, 200, 'a planted sid in the first field does not hide '
                      . 'the real one in the third');
like($r->{body} // '', qr/^user=\[h2-real\]/, '... the real one is used');

$r = h2('/p', 'Cookie: a=1', "Cookie: sid=$forged");
is($r->{status}, 401, 'only a forged sid among the fields: 401');

$r = h2('/p', 'Cookie: a=1', 'Cookie: b=2');
is($r->{status}, 401, 'no sid among the fields: 401');

# a comma separates no cookies (RFC 6265; nginx's own $cookie_... agrees
# from 1.29.6 on): "a=1, sid=..." is one cookie "a", on every version
my $comma = cookie('h2-comma');
$r = h2('/p', "Cookie: a=1, sid=$comma");
is($r->{status}, 401, 'a sid after a comma is not a cookie of its own: 401');
$r = h2('/p', "Cookie: a=1; sid=$comma");
is($r->{status}, 200, '... after a semicolon it is: 200');

# the login hand-off over HTTP/2, then the new cookie in a second field
$r = h2('/login');
is($r->{status}, 302, 'login hand-off over HTTP/2: 302');
my ($issued) = ($r->{headers} // '') =~ /^set-cookie: sid=([^;\r\n]+)/mi;
ok(defined $issued && length $issued, '... with the session cookie set');
$r = h2('/p', 'Cookie: app=1', 'Cookie: sid=' . ($issued // ''));
is($r->{status}, 200, 'the issued cookie, sent in a second field: 200');
like($r->{body} // '', qr/^user=\[h2-login\]/, '... as the logged-in user');

unlike(SessionTest::error_log($nginx), qr/\[(?:alert|crit|emerg)\]/,
       'no alert, crit or emerg in the error log');

done_testing();
