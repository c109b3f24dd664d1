# session_csrf (issue 14): cross-origin protection of state-changing
# requests, every rule: safe methods, Sec-Fetch-Site same-origin/none,
# listed origins, Sec-Fetch-Site cross-site/same-site, Origin against the
# request's own origin, no browser headers; $session_csrf_status; nothing
# reaches the upstream when refused; "off" in a nested location; nginx -t.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use File::Temp qw(tempdir);

my $keys = test_keys_dir();
my $redis = redis_start();
my $rport = $redis->{port};

my $n = nginx_start(http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;
    log_format csrf '\$request_method \$uri \$session_csrf_status \$status';

    server {
        listen 127.0.0.1:\$PORT;
        access_log \$PORT.csrf.log csrf;
        session_csrf on origins=https://app.example.com,http://partner.test:8080/;

        location /p {
            session_required optional;
            add_header X-User \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location /open {
            session_required optional;
            session_csrf off;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /logout {
            session_logout;
        }
        location /nosession {
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /echo {
            session_csrf off;
            return 200 "reached \$request_method\\n";
        }
    }
HTTP
my $port = $n->{port};
my $own = "http://localhost";      # http_request sends Host: localhost

sub req {
    my ($method, $path, %h) = @_;
    my $r = http_request($port, "$method $path", \%h,
                         $method eq 'GET' || $method eq 'HEAD' ? undef : 'x=1');
    return $r;
}

my @cases = (
    # method, headers, expected status, csrf status, name
    [ 'GET', { Origin => 'https://evil.test', 'Sec-Fetch-Site' => 'cross-site' },
      200, 'safe', 'GET from another site passes (safe method)' ],
    [ 'HEAD', { 'Sec-Fetch-Site' => 'cross-site' },
      200, 'safe', 'HEAD passes' ],
    [ 'OPTIONS', { 'Sec-Fetch-Site' => 'cross-site' },
      200, 'safe', 'OPTIONS passes' ],
    [ 'POST', { 'Sec-Fetch-Site' => 'same-origin', Origin => 'https://evil.test' },
      200, 'same-origin', 'POST, Sec-Fetch-Site: same-origin passes' ],
    [ 'POST', { 'Sec-Fetch-Site' => 'none' },
      200, 'same-origin', 'POST, Sec-Fetch-Site: none (typed, bookmark) passes' ],
    [ 'POST', { 'Sec-Fetch-Site' => 'cross-site', Origin => 'https://evil.test' },
      403, 'cross-origin', 'POST, Sec-Fetch-Site: cross-site: 403' ],
    [ 'POST', { 'Sec-Fetch-Site' => 'same-site', Origin => 'http://localhost:8081' },
      403, 'cross-origin', 'POST, same-site (another port): 403 unless listed' ],
    [ 'POST', { 'Sec-Fetch-Site' => 'cross-site', Origin => 'https://app.example.com' },
      200, 'listed', 'POST, cross-site from a listed origin passes' ],
    [ 'PUT', { 'Sec-Fetch-Site' => 'same-site', Origin => 'HTTP://PARTNER.TEST:8080' },
      200, 'listed', 'PUT from the second listed origin (any case) passes' ],
    [ 'POST', { 'Sec-Fetch-Site' => 'cross-site', Origin => 'https://app.example.com.evil.test' },
      403, 'cross-origin', 'a listed origin as a prefix does not pass' ],
    [ 'POST', { Origin => $own },
      200, 'same-origin', 'no Sec-Fetch-Site, Origin = own scheme://host passes' ],
    [ 'DELETE', { Origin => 'http://localhost:8081' },
      403, 'cross-origin', 'no Sec-Fetch-Site, Origin of another port: 403' ],
    [ 'PATCH', { Origin => 'https://localhost' },
      403, 'cross-origin', 'no Sec-Fetch-Site, Origin of another scheme: 403' ],
    [ 'POST', { Origin => 'null' },
      403, 'cross-origin', 'Origin: null: 403' ],
    [ 'POST', { 'Sec-Fetch-Site' => 'cross-site' },
      403, 'cross-origin', 'Sec-Fetch-Site: cross-site without Origin: 403' ],
    [ 'POST', {},
      200, 'no-browser', 'neither header (curl, a server): passes' ],
    [ 'POST', { 'Sec-Fetch-Site' => 'bogus' },
      403, 'cross-origin', 'an unknown Sec-Fetch-Site value: 403' ],
);

for my $c (@cases) {
    my ($m, $h, $want, undef, $name) = @$c;
    my $r = req($m, '/p', %$h);
    is($r->{status}, $want, $name);
    if ($want == 200 && $m ne 'HEAD') {
        is($r->{body}, "reached $m\n", '... reached the upstream');
    } elsif ($want == 403) {
        unlike($r->{body} // '', qr/reached/, '... nothing reached the upstream');
    }
}

# a refused POST with a valid session: the session does not help
my $cookie = sessionctl('--keys', "$keys/ring1.keys", '--redis',
                        "127.0.0.1:$rport", 'create', 'alice');
is(req('POST', '/p', Cookie => "sid=$cookie",
       'Sec-Fetch-Site' => 'cross-site', Origin => 'https://evil.test')
   ->{status}, 403, 'a cross-origin POST with a valid session cookie: 403');
is(req('POST', '/p', Cookie => "sid=$cookie", 'Sec-Fetch-Site' => 'same-origin')
   ->{status}, 200, '... the same POST from the same origin: 200');

# a logout is a state change: a cross-origin one leaves the session alone
is(req('POST', '/logout', Cookie => "sid=$cookie",
       'Sec-Fetch-Site' => 'cross-site', Origin => 'https://evil.test')
   ->{status}, 403, 'a cross-origin POST /logout: 403');
is(req('POST', '/p', Cookie => "sid=$cookie", 'Sec-Fetch-Site' => 'same-origin')
   ->{headers}{'x-user'}[0] // '', 'alice', '... and the session is still valid');
isnt(req('POST', '/logout', Cookie => "sid=$cookie",
         'Sec-Fetch-Site' => 'same-origin')->{status}, 403,
     'a same-origin POST /logout passes');
is(req('POST', '/p', Cookie => "sid=$cookie", 'Sec-Fetch-Site' => 'same-origin')
   ->{headers}{'x-user'}[0] // '', '', '... and ends the session');

is(req('POST', '/open', 'Sec-Fetch-Site' => 'cross-site')->{status}, 200,
   'session_csrf off in a nested location');
is(req('POST', '/nosession', 'Sec-Fetch-Site' => 'cross-site')->{status}, 200,
   'a location that does not read the session is not checked');

# $session_csrf_status in the access log, in the order of the requests
sleep 0.3;
open my $fh, '<', "$n->{root}/$port.csrf.log" or die "log: $!";
my @log = grep { m{ /p } } <$fh>;
close $fh;
my @want = map { "$_->[0] /p $_->[3] $_->[2]\n" } @cases;
is_deeply([ @log[0 .. $#want] ], \@want,
          '$session_csrf_status: safe, same-origin, listed, no-browser, '
          . 'cross-origin');

# nginx -t
my $dir = tempdir(CLEANUP => 1);
my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $modules = join '', map { "load_module $_;\n" }
                       split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
sub nginx_t {
    my ($http) = @_;
    mkdir "$dir/logs";
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "${modules}error_log $dir/logs/error.log;\n"
            . "pid $dir/logs/nginx.pid;\nevents {}\nhttp {\n$http\n}\n";
    close $fh;
    my $out = `$binary -t -p $dir -c $dir/nginx.conf 2>&1`;
    return ($out, $? >> 8);
}
for my $bad ('session_csrf maybe;', 'session_csrf on origins=evil.test;',
             'session_csrf on origins=https://a.test/path;',
             'session_csrf on https://a.test;', 'session_csrf on origins=;') {
    my ($out, $rc) = nginx_t($bad);
    isnt($rc, 0, "nginx -t refuses \"$bad\"");
    like($out, qr/\[emerg\].*"session_csrf"/, '... naming the directive');
}
my ($out, $rc) = nginx_t('session_csrf on origins=https://a.test '
                         . 'http://b.test:81;');
is($rc, 0, 'origins= with several URLs') or diag $out;

done_testing();
