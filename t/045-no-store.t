# Responses that carry the session cookie are never stored by a cache
# (suspected in issue 11): a login, a cookie re-issued after a key
# rotation or a renewal, a logout (session_logout and X-Session-Logout)
# answer "Cache-Control: private, no-store", whatever the upstream said;
# responses without our cookie keep the upstream's Cache-Control.  And
# "nginx -t" refuses session_issue together with proxy_cache (or
# fastcgi_cache, uwsgi_cache, scgi_cache) in a location, naming the file
# and line: a cached login response would mint a session for everyone.
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

sub ctl { sessionctl('--keys', "$keys/ring1.keys",
                     '--redis', "127.0.0.1:$rport", @_) }

my $nginx = nginx_start(workers => 1, http => <<"HTTP");
    session_keys $keys/ring2.keys;
    session_redis 127.0.0.1:$rport;
    session_cookie sid secure=off;

    server {
        listen 127.0.0.1:\$PORT;
        location /p {
            session_required on;
            proxy_pass http://127.0.0.1:\$PORT/public;
        }
        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend-login;
        }
        location = /app-logout {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend-logout;
        }
        location = /logout { session_logout; }
        location = /public {
            add_header Cache-Control "public, max-age=600";
            return 200 "ok\\n";
        }
        location = /backend-login {
            add_header X-Session-Subject alice;
            add_header Cache-Control "public, max-age=600";
            return 200 "welcome\\n";
        }
        location = /backend-logout {
            add_header X-Session-Logout current;
            add_header Cache-Control "public, max-age=600";
            return 200 "bye\\n";
        }
    }
HTTP
my $port = $nginx->{port};

sub cc { join ' | ', @{ $_[0]{headers}{'cache-control'} // [] } }

my $r = http_request($port, 'GET /login');
is($r->{status}, 200, 'login: 200');
ok(set_cookie($r, 'sid'), 'login: a cookie');
is(cc($r), 'private, no-store',
   'login: Cache-Control private, no-store (the upstream\'s "public" hidden)');
my $c = set_cookie($r, 'sid');

$r = http_request($port, 'GET /p', { Cookie => "sid=$c" });
is($r->{status}, 200, 'a current cookie: 200');
ok(!defined set_cookie($r, 'sid'), '... no cookie set');
is(cc($r), 'public, max-age=600', '... the upstream\'s Cache-Control kept');

# a cookie of the older key (k1) is set again under k2
my $old = ctl('create', 'bob');
like($old, qr/^k1\./, 'a k1 cookie');
$r = http_request($port, 'GET /p', { Cookie => "sid=$old" });
is($r->{status}, 200, 'k1 cookie: 200');
like(set_cookie($r, 'sid') // '', qr/^k2\./, '... re-issued under k2');
is(cc($r), 'private, no-store', '... with Cache-Control private, no-store');

# a renewal: a second login in the same browser, then the old cookie
$r = http_request($port, 'GET /login', { Cookie => "sid=$c" });
my $c2 = set_cookie($r, 'sid');
ok($c2 && $c2 ne $c, 'a second login: a new cookie');
$r = http_request($port, 'GET /p', { Cookie => "sid=$c" });
is($r->{status}, 200, 'the replaced cookie, in its grace period: 200');
ok(set_cookie($r, 'sid'), '... renewed: the new cookie is handed out');
is(cc($r), 'private, no-store', '... with Cache-Control private, no-store');

$r = http_request($port, 'GET /app-logout', { Cookie => "sid=$c2" });
is($r->{status}, 200, 'X-Session-Logout: 200');
is(set_cookie($r, 'sid'), '', '... the cookie removed');
is(cc($r), 'private, no-store', '... with Cache-Control private, no-store');

$r = http_request($port, 'POST /logout');
is($r->{status}, 204, 'session_logout: 204');
is(cc($r), 'private, no-store', '... Cache-Control private, no-store, once');

# nginx -t: session_issue with a response cache
my $dir = tempdir(CLEANUP => 1);
my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $modules = join '', map { "load_module $_;\n" }
                       split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');

sub nginx_t {
    my ($http) = @_;
    mkdir "$dir/logs";
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "${modules}error_log $dir/logs/error.log;\n"
            . "pid $dir/logs/nginx.pid;\nevents {}\nhttp {\n"
            . "    session_keys $keys/ring1.keys;\n"
            . "    session_redis 127.0.0.1:$rport;\n"
            . "    proxy_cache_path $dir/pc keys_zone=pc:1m;\n"
            . "    fastcgi_cache_path $dir/fc keys_zone=fc:1m;\n"
            . "$http\n}\n";
    close $fh;
    my $out = `$binary -t -p $dir -c $dir/nginx.conf 2>&1`;
    return ($out, $? >> 8);
}

my $nl = () = $modules =~ /\n/g;
my $first = $nl + 9;     # the first line of $http in nginx.conf

my ($out, $rc) = nginx_t(<<"HTTP");
server {
    location /login {
        session_issue on;
        proxy_cache pc;
        proxy_pass http://127.0.0.1:1;
    }
}
HTTP
isnt($rc, 0, 'session_issue + proxy_cache: nginx -t fails');
my $line = $first + 2;
like($out, qr{\[emerg\] .*"session_issue" cannot be used together with "proxy_cache".* in \Q$dir\E/nginx\.conf:$line},
     '... naming session_issue\'s file and line')
    or diag($out);

($out, $rc) = nginx_t(<<"HTTP");
server {
    session_issue on;
    proxy_cache pc;
    location /login {
        proxy_pass http://127.0.0.1:1;
    }
}
HTTP
isnt($rc, 0, 'both inherited from the server: nginx -t fails');
$line = $first + 1;
like($out, qr{"proxy_cache".* in \Q$dir\E/nginx\.conf:$line}, '... named');

($out, $rc) = nginx_t(<<"HTTP");
server {
    location /login {
        session_issue on;
        fastcgi_cache fc;
        fastcgi_pass 127.0.0.1:1;
    }
}
HTTP
isnt($rc, 0, 'session_issue + fastcgi_cache: nginx -t fails');
like($out, qr{"fastcgi_cache"}, '... named');

($out, $rc) = nginx_t(<<"HTTP");
server {
    proxy_cache pc;
    location /login {
        session_issue on;
        proxy_cache off;
        proxy_pass http://127.0.0.1:1;
    }
    location /static {
        proxy_pass http://127.0.0.1:1;
    }
}
HTTP
is($rc, 0, 'proxy_cache off where session_issue is on: nginx -t passes')
    or diag($out);

done_testing();
