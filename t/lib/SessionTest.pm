package SessionTest;

# Helpers for the scenario tests in t/ that need more than one nginx
# lifetime per test or that act between requests (stop Redis, restart
# nginx, fire parallel requests).  Plain Test::More scripts use it, so they
# run the same whether Test::Nginx or the project's harness is installed.
#
# Everything runs on 127.0.0.1, on ports picked free at run time, under a
# temporary directory; every process started is stopped at exit.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use File::Spec;
use FindBin;
use IO::Socket::INET;
use IO::Select;
use POSIX ":sys_wait_h";
use Time::HiRes qw(sleep time);
use NginxReady ();

our @EXPORT = qw(free_port redis_start redis_stop redis_cli relk pack_lk
                 unpack_lk
                 nginx_start
                 nginx_stop nginx_reload http_request sessionctl
                 test_keys_dir wait_port parallel_requests set_cookie
                 delay_proxy);

my @cleanup;
our @valgrind_roots;

END {
    my $status = $?;
    $_->() for reverse @cleanup;
    my $bad = '';
    for my $root (@valgrind_roots) {
        for my $f (glob "$root/logs/valgrind.*.log") {
            open my $fh, '<', $f or next;
            local $/;
            my $log = <$fh>;
            # a record (a paragraph of the log) counts when it is an
            # invalid access or a definite leak with one of our frames
            # (nginx itself does not free everything at exit)
            for my $rec (split /\n(?:==\d+==\s*\n)+/, $log) {
                next unless $rec =~ /Invalid (read|write|free)|uninitialised
                                     |are\ definitely\ lost/x;
                next if $rec =~ /definitely lost/
                        && $rec !~ /ngx_http_session|session_|sc_|hiredis|
                                    redis[A-Z]|sodium/x;
                $bad .= "$f:\n$rec\n";
            }
        }
    }
    if ($bad) {
        print STDERR "# valgrind found errors:\n",
                     map { "# $_\n" } split /\n/, $bad;
        $status ||= 1;
    }
    $? = $status;
}

sub test_keys_dir {
    my $dir = File::Spec->rel2abs("$FindBin::Bin/keys");
    chmod 0600, glob("$dir/*.keys");
    return $dir;
}

sub free_port {
    for (1 .. 50) {
        my $port = 20000 + int(rand(30000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Listen => 1,
                                      ReuseAddr => 1);
        next unless $s;
        close $s;
        return $port;
    }
    die "no free port found\n";
}

sub wait_port {
    my ($port, $up, $timeout, $host) = @_;
    $timeout //= 5;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => $host // '127.0.0.1',
                                      PeerPort => $port, Timeout => 0.2);
        if ($up ? $s : !$s) {
            close $s if $s;
            return 1;
        }
        close $s if $s;
        sleep 0.05;
    }
    return 0;
}

# redis_start(port => N, appendonly => 1, dir => D, host => IP): a
# redis-server (on 127.0.0.1 unless host names another local address)
sub redis_start {
    my (%o) = @_;
    my $r = {
        port => $o{port} // free_port(),
        dir  => $o{dir} // tempdir(CLEANUP => 1),
        host => $o{host} // '127.0.0.1',
    };
    my @args = ('--port', $r->{port}, '--bind', $r->{host},
                '--dir', $r->{dir}, '--save', '',
                '--appendonly', $o{appendonly} ? 'yes' : 'no',
                '--daemonize', 'yes',
                '--pidfile', "$r->{dir}/redis.pid",
                '--logfile', "$r->{dir}/redis.log");
    if ($o{unixsocket}) {
        # nginx's workers may run as another user: the socket is theirs too
        chmod 0755, $r->{dir};
        $r->{unixsocket} = "$r->{dir}/redis.sock";
        push @args, '--unixsocket', $r->{unixsocket},
                    '--unixsocketperm', '777';
    }
    system('redis-server', @args) == 0 or die "redis-server failed\n";
    wait_port($r->{port}, 1, 5, $r->{host})
        or die "redis did not start on $r->{host}:$r->{port}\n";
    my $alive = $r;
    push @cleanup, sub { redis_stop($alive) if $alive->{port} };
    return $r;
}

sub redis_stop {
    my ($r) = @_;
    return unless $r->{port};
    my $h = $r->{host} // '127.0.0.1';
    system("redis-cli -h $h -p $r->{port} shutdown nosave >/dev/null 2>&1");
    wait_port($r->{port}, 0, 5, $h);
}

sub redis_cli {
    my ($r, @args) = @_;
    my $q = join ' ', map { "'$_'" } @args;
    my $h = $r->{host} // '127.0.0.1';
    my $out = `redis-cli -h $h -p $r->{port} $q 2>&1`;
    chomp $out;
    return $out;
}

# relk($redis, $key): rewrites a record's lookup copy "lk" from its fields
# with the module's own SS_LUA_LK_FN (src/session_store.h), as every script
# of the module does after writing a field: for a test that edits a field
# of a record by hand and wants the lookup to read the edit.  (Without
# "lk", HDEL, the lookup reads the fields themselves.)
sub relk {
    my ($r, $key) = @_;
    require RedisCluster;
    my $store = File::Spec->catfile((File::Spec->splitpath(
                    File::Spec->rel2abs(__FILE__)))[1],
                    qw(.. .. src session_store.h));
    my %s = RedisCluster::cluster_scripts($store, qr/^SS_LUA_LK_FN$/);
    my $lua = ($s{SS_LUA_LK_FN} // die "no SS_LUA_LK_FN in $store\n")
              . "ss_lk(KEYS[1])\nreturn 1\n";
    my $sh = sub { my $v = shift; $v =~ s/'/'\\''/g; "'$v'" };
    my $h = $r->{host} // '127.0.0.1';
    my $q = join ' ', map { $sh->($_) } $lua, 1, $key;
    my $out = `redis-cli -h $h -p $r->{port} EVAL $q 2>&1`;
    chomp $out;
    return $out;
}

# pack_lk(key, sub, abs, last, cl, nx, nt, cre): the "lk" of the record
# at key written here, apart from the module's scripts: its id (the first
# 16 hex digits of the hash that ends the key), then the fields (undef or
# '' for a field it lacks)
sub pack_lk {
    my ($key, @f) = @_;
    return join '', map { my $v = $_ // ''; length($v) . ":$v," }
                        substr($key, -64, 16), @f;
}

# unpack_lk($lk): (id, sub, abs, last, cl, nx, nt, cre) of a record's
# "lk", or () if it does not parse
sub unpack_lk {
    my ($lk) = @_;
    my @f;
    while (length $lk) {
        $lk =~ s/^(0|[1-9]\d{0,5}):// or return ();
        my $n = $1;
        return () if length($lk) < $n + 1 || substr($lk, $n, 1) ne ',';
        push @f, substr($lk, 0, $n);
        substr($lk, 0, $n + 1) = '';
    }
    return @f == 8 ? @f : ();
}

# nginx_start(http => "...", main => "...", workers => N, port => P)
# the http text may use $PORT for the listening port.  Also (scripts/bench,
# scripts/soak): access_log => 'off', connections => worker_connections,
# modules => [paths] instead of TEST_NGINX_LOAD_MODULES, and wrapper =>
# [argv]: one process in the foreground (master_process off) under that
# command, e.g. valgrind --tool=callgrind, a child of ours ($n->{child});
# ready => 0: no wait for the workers' Redis links (t/lib/NginxReady.pm;
# a module older than its "redis link up" line would be waited for)
sub nginx_start {
    my (%o) = @_;
    my $n = {
        port   => $o{port} // free_port(),
        root   => $o{root} // tempdir(CLEANUP => 1),
        wrapper => $o{wrapper},
        slow   => $o{wrapper} ? 20 : slow(),
        ready  => $o{ready} // 1,
    };
    my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $root = $n->{root};
    # workers may run as an unprivileged user: let them reach their
    # temporary paths under this directory
    mkdir $root unless -d $root;
    chmod 0755, $root;
    mkdir "$root/$_" for qw(conf logs html);
    my $http = $o{http} // '';
    $http =~ s/\$PORT\b/$n->{port}/g;
    my $modules = join '',
        map { "load_module $_;\n" }
        $o{modules} ? @{ $o{modules} }
                    : split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    my $workers = $o{workers} // 1;
    my $mode = $o{wrapper} ? "daemon off;\nmaster_process off;"
                           : "daemon on;\nmaster_process on;";
    my $access = $o{access_log} // "$root/logs/access.log";
    my $conns = $o{connections} // 1024;
    open my $fh, '>', "$root/conf/nginx.conf" or die $!;
    print $fh <<"CONF";
$modules
worker_processes $workers;
$mode
error_log $root/logs/error.log ${\($o{log_level} // 'info')};
${\NginxReady::log_directive("$root/logs")}pid $root/logs/nginx.pid;
${\($o{main} // '')}
events { worker_connections $conns; accept_mutex off; }
http {
    access_log $access;
    client_body_temp_path $root/body;
    proxy_temp_path $root/proxy;
    fastcgi_temp_path $root/fastcgi;
    uwsgi_temp_path $root/uwsgi;
    scgi_temp_path $root/scgi;
    default_type text/plain;
$http
}
CONF
    close $fh;
    $n->{binary} = $binary;
    nginx_up($n);
    my $alive = $n;
    push @cleanup, sub { nginx_stop($alive) };
    return $n;
}

# TEST_NGINX_USE_VALGRIND=1: nginx (master and workers) runs under
# memcheck; at exit any invalid access, uninitialised use or definite leak
# in its logs fails the test script
sub valgrind { $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0 }

# timing bounds stretch under valgrind
sub slow { valgrind() ? 20 : 1 }

sub nginx_up {
    my ($n) = @_;
    return nginx_up_wrapped($n) if $n->{wrapper};
    my $cmd = "$n->{binary} -p $n->{root} -c $n->{root}/conf/nginx.conf";
    if (valgrind()) {
        $cmd = "valgrind -q --tool=memcheck --trace-children=yes "
             . "--leak-check=full --show-leak-kinds=definite --keep-debuginfo=yes "
             . "--errors-for-leak-kinds=definite --num-callers=30 "
             . "--log-file=$n->{root}/logs/valgrind.%p.log $cmd";
        push @valgrind_roots, $n->{root};
    }
    my $mark = NginxReady::mark("$n->{root}/logs");
    my $out = `$cmd 2>&1`;
    die "nginx failed to start: $out\n" if $?;
    wait_port($n->{port}, 1, 5 * slow())
        or die "nginx did not listen on $n->{port}\n";
    $n->{running} = 1;
    nginx_ready($n, $mark);
}

# one nginx process in the foreground under $n->{wrapper}, our child
sub nginx_up_wrapped {
    my ($n) = @_;
    my $mark = NginxReady::mark("$n->{root}/logs");
    my $pid = fork // die "fork: $!\n";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$n->{root}/logs/wrapper.log" or die $!;
        open STDERR, '>&', \*STDOUT;
        exec @{ $n->{wrapper} }, $n->{binary}, '-p', "$n->{root}/",
             '-c', "$n->{root}/conf/nginx.conf"
            or die "exec: $!\n";
    }
    $n->{child} = $pid;
    $n->{running} = 1;
    wait_port($n->{port}, 1, 5 * $n->{slow})
        or die "nginx did not listen on $n->{port}\n";
    nginx_ready($n, $mark);
}

# Every current worker's link to Redis is up (t/lib/NginxReady.pm), after
# a start, restart or reload; bounded, and only a diagnostic when the bound
# runs out (the test's own checks then say what fails).
sub nginx_ready {
    my ($n, $mark) = @_;
    return unless $n->{ready} // 1;
    my $err = NginxReady::wait_links(conf => "$n->{root}/conf/nginx.conf",
                                     logdir => "$n->{root}/logs", from => $mark,
                                     pid => $n->{child},
                                     timeout => ($n->{slow} // slow()) > 1
                                                ? 120 : 20);
    print STDERR "# $err\n" if $err;
}



sub nginx_pid {
    my ($n) = @_;
    open my $fh, '<', "$n->{root}/logs/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid;
}

sub nginx_stop {
    my ($n) = @_;
    return unless $n->{running};
    my $pid = $n->{child} // nginx_pid($n);
    $n->{running} = 0;
    return unless $pid;
    kill 'QUIT', $pid;
    for (1 .. 100 * ($n->{slow} // slow())) {
        # our own child (wrapper) must be reaped, or it stays a zombie
        return if $n->{child} ? waitpid($pid, WNOHANG) != 0
                              : !kill 0, $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0) if $n->{child};
}

sub nginx_restart {
    my ($n) = @_;
    nginx_stop($n);
    wait_port($n->{port}, 0, 5);
    nginx_up($n);
}

sub nginx_reload {
    my ($n) = @_;
    my $mark = NginxReady::mark("$n->{root}/logs");
    system("$n->{binary} -p $n->{root} -c $n->{root}/conf/nginx.conf "
           . "-s reload") == 0 or die "reload failed\n";
    nginx_ready($n, $mark);
}

sub error_log {
    my ($n) = @_;
    open my $fh, '<', "$n->{root}/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

# http_request(port, "GET /path", {Header => value}, body, timeout)
# returns { status => N, headers => {lc name => [values]}, body => ... }
# or { status => 0, error => "..." } on timeout or connection failure
sub http_request {
    my ($port, $line, $headers, $body, $timeout) = @_;
    $timeout //= 5;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => $timeout)
        or return { status => 0, error => "connect: $!" };
    $headers //= {};
    my $req = "$line HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    for my $k (sort keys %$headers) {
        my $v = $headers->{$k};
        $req .= "$k: $_\r\n" for ref $v ? @$v : ($v);
    }
    $req .= "Content-Length: " . length($body) . "\r\n" if defined $body;
    $req .= "\r\n";
    $req .= $body if defined $body;
    print $s $req;
    my $sel = IO::Select->new($s);
    my $resp = '';
    my $deadline = time + $timeout;
    while (1) {
        my $left = $deadline - time;
        return { status => 0, error => 'timeout', raw => $resp }
            if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $resp .= $buf;
    }
    close $s;
    my ($head, $rbody) = split /\r\n\r\n/, $resp, 2;
    return { status => 0, error => 'empty response' } unless $head;
    my @lines = split /\r\n/, $head;
    my ($status) = (shift(@lines) // '') =~ m{^HTTP/\d\.\d (\d{3})};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        push @{ $h{lc $k} }, $v;
    }
    return { status => $status // 0, headers => \%h, body => $rbody // '' };
}

# parallel_requests(port, n, "GET /path", {headers}, timeout): opens n
# connections, sends the n requests, then reads every response; nginx's
# workers serve them concurrently.  Returns the list of status codes (0 for
# a failure) in order.
sub parallel_requests {
    my ($port, $n, $line, $headers, $timeout) = @_;
    $timeout //= 5;
    $headers //= {};
    my $req = "$line HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    for my $k (sort keys %$headers) {
        $req .= "$k: $headers->{$k}\r\n";
    }
    $req .= "\r\n";
    my (@socks, %buf, %idx);
    for my $i (0 .. $n - 1) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Timeout => $timeout);
        push @socks, $s;
        next unless $s;
        $idx{"$s"} = $i;
        $buf{"$s"} = '';
    }
    for my $s (grep { $_ } @socks) {
        syswrite $s, $req;
    }
    my $sel = IO::Select->new(grep { $_ } @socks);
    my $deadline = time + $timeout;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read($deadline - time)) {
            my $r = sysread $s, my $chunk, 65536;
            if ($r) {
                $buf{"$s"} .= $chunk;
            } else {
                $sel->remove($s);
                close $s;
            }
        }
    }
    my @status = (0) x $n;
    for my $s (grep { $_ } @socks) {
        my ($st) = $buf{"$s"} =~ m{^HTTP/1\.\d (\d{3})};
        $status[$idx{"$s"}] = $st // 0;
    }
    return @status;
}

# set_cookie(response, name): the value of the Set-Cookie for name, or
# undef; an expiring Set-Cookie gives ''
sub set_cookie {
    my ($resp, $name) = @_;
    for my $v (@{ $resp->{headers}{'set-cookie'} // [] }) {
        return $1 if $v =~ /^\Q$name\E=([^;]*)/;
    }
    return undef;
}

# delay_proxy(port => P, hold => S): a TCP proxy on a free loopback port
# in front of 127.0.0.1:P (a real redis-server) that, for S seconds after
# it starts and after each arm() (arm(S2): S2 seconds), holds every
# connection whose client speaks first in RESP arrays (hiredis, hence
# nginx's workers) before relaying it; inline commands (redis-cli's
# "PING", the harness's probe) pass at once.  So nginx's first connections
# to Redis outlast a short connect_timeout, as a worker's do under
# valgrind.  Returns { port, pid, arm => sub }.
sub delay_proxy {
    my (%o) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $armed = "$dir/until";
    # armed: the connections whose first command comes within "hold"
    # seconds of the first such command after arming are held until then
    # (the window opens with nginx's first connection, however slow its
    # start: valgrind)
    my $arm = sub {
        my ($hold) = @_;
        open my $fh, '>', "$armed.tmp" or die $!;
        print $fh $hold // $o{hold}, "\n";
        close $fh;
        rename "$armed.tmp", $armed or die $!;
    };
    $arm->();
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 64, ReuseAddr => 1)
        or die "delay_proxy: $!\n";
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        setpgrp(0, 0);
        $SIG{CHLD} = 'IGNORE';
        @cleanup = ();
        @valgrind_roots = ();
        while (1) {
            my $c = $l->accept or next;
            my $k = fork;
            if (defined $k && $k == 0) {
                close $l;
                _delay_relay($c, $o{port}, $armed);
                POSIX::_exit(0);
            }
            close $c;
        }
    }
    my $p = { port => $l->sockport, pid => $pid, arm => $arm };
    close $l;
    push @cleanup, sub { kill 'KILL', -$pid; waitpid($pid, 0) };
    return $p;
}

sub _delay_relay {
    my ($c, $port, $armed) = @_;
    my $first = '';
    sysread($c, $first, 65536)
        if IO::Select->new($c)->can_read(10);
    if ($first =~ /^\*/ && open my $fh, '<', $armed) {
        my ($hold, $start) = map { $_ + 0 } grep { defined } <$fh>;
        close $fh;
        if (!defined $start) {
            # the window opens now
            $start = time;
            if (open my $w, '>', "$armed.$$") {
                print $w "$hold\n$start\n";
                close $w;
                rename "$armed.$$", $armed;
            }
        }
        my $left = $start + ($hold // 0) - time;
        sleep $left if $left > 0;
    }
    my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or return;
    syswrite $u, $first if length $first;
    my $sel = IO::Select->new($c, $u);
    while (1) {
        for my $s ($sel->can_read) {
            my $n = sysread $s, my $buf, 65536;
            return unless $n;
            syswrite($s == $c ? $u : $c, $buf) or return;
        }
    }
}

# sessionctl(@args): runs the project's CLI, returns (stdout, exit code)
sub sessionctl {
    my (@args) = @_;
    my $ctl = $ENV{TEST_NGINX_SESSIONCTL}
        || File::Spec->rel2abs("$FindBin::Bin/../build/sessionctl");
    my $q = join ' ', map { "'$_'" } @args;
    my $out = `$ctl $q`;
    chomp $out;
    return wantarray ? ($out, $? >> 8) : $out;
}

1;
