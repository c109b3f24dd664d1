package Test::Nginx::Util;

# Helper half of our from-scratch stand-in for openresty's Test::Nginx.
# It owns everything about the nginx server under test: the knobs
# (ports, paths, log level, workers ...), the server root, the generated
# nginx.conf, starting and stopping nginx, valgrind, and reading logs.
# The data-driven part (blocks, requests, checks) lives in
# Test::Nginx::Socket, which is the module test files `use`.
#
# Only core Perl modules are used here.

use strict;
use warnings;

use Cwd ();
use File::Spec ();
use File::Path qw(make_path remove_tree);
use IO::Socket::INET ();
use POSIX qw(:sys_wait_h SIGQUIT SIGTERM SIGKILL);
use Time::HiRes qw(sleep time);

# Readiness of the module's Redis links after a start: shared with
# t/lib/SessionTest.pm, loaded by path since t/lib may not be on @INC.
BEGIN {
    unless ($INC{'NginxReady.pm'}) {
        my $f = File::Spec->catfile(
            (File::Spec->splitpath(File::Spec->rel2abs(__FILE__)))[1],
            File::Spec->updir, File::Spec->updir, File::Spec->updir,
            'lib', 'NginxReady.pm');
        require $f;
        $INC{'NginxReady.pm'} = $f;
    }
}

use Exporter 'import';

our @EXPORT_OK = qw(
    parse_time expand_env nginx_version setup_server_root write_user_files
    write_config_file start_nginx stop_nginx run_must_die nginx_running
    error_log_lines access_log_lines reset_error_log_pos eval_in_util
    diag_verbose
);

# ---------------------------------------------------------------------
# Knobs.  Environment variables are read once, at load time, like
# Test::Nginx does; the exported setter functions in Socket.pm change
# these package variables before run_tests().
# ---------------------------------------------------------------------

our $Verbose        = $ENV{TEST_NGINX_VERBOSE};
our $NginxBinary    = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers        = 1;
our $WorkerConns    = 64;
our $LogLevel       = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess  = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $ServerAddr     = '127.0.0.1';
our $ServerName     = 'localhost';
our $Timeout        = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Sleep          = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $NoRootLocation = 0;
our $ConfigPreamble = '';
our @EnvToNginx;
our $UseValgrind    = $ENV{TEST_NGINX_USE_VALGRIND};
our $LoadModules    = $ENV{TEST_NGINX_LOAD_MODULES};
our $EventType      = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $ReusePort      = $ENV{TEST_NGINX_REUSE_PORT};
our $WorkerUser     = $ENV{TEST_NGINX_WORKER_USER};
our $Randomize      = $ENV{TEST_NGINX_RANDOMIZE};
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};

our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                  || 1984;
# undef means "the same as $ServerPort" (see client_port()).
our $ClientPort = $ENV{TEST_NGINX_CLIENT_PORT};

if ($Randomize) {
    $ServerPort = free_port({}) or die "no free TCP port found\n";
    undef $ClientPort;
}

# The server root and everything under it.  Paths are absolute.
our $ServRoot = $Randomize
    ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : ($ENV{TEST_NGINX_SERVROOT} ? File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT})
                                 : File::Spec->rel2abs('t/servroot'));
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
# Where nginx's own stdout/stderr go while it starts (and, under
# valgrind, for its whole life).  Kept under logs/ so it is wiped too.
our $StderrFile = "$LogDir/nginx.stderr";
our $ValgrindLog = "$LogDir/valgrind.log";

# Runtime state.
our $NginxPid;          # pid of the running nginx (master) or undef
our $NginxIsChild;      # true when $NginxPid is our own child (valgrind)
our $NginxOwner;        # name of the block whose nginx is running
our $NginxExit;         # wait status of our child nginx once reaped
our $ErrLogPos = 0;     # byte offset up to which error.log was read

# Become a "child subreaper": the daemonised nginx is then re-parented
# to this process instead of to PID 1, so that we can reap it (some
# container inits never reap, and zombies would pile up).  Best effort.
eval {
    require 'syscall.ph';
    syscall(&SYS_prctl(), 36, 1, 0, 0, 0);   # PR_SET_CHILD_SUBREAPER
};

sub client_port () {
    return defined $ClientPort ? $ClientPort : $ServerPort;
}

sub diag_verbose {
    return unless $Verbose;
    print STDERR "# [harness] @_\n";
}

# "3", "3s", "500ms" -> seconds.  undef stays undef.
sub parse_time ($) {
    my $t = shift;
    return undef unless defined $t;
    $t =~ s/^\s+|\s+$//g;
    if ($t =~ /^([\d.]+)\s*ms$/) {
        return $1 / 1000;
    }
    if ($t =~ /^([\d.]+)\s*s?$/) {
        return $1 + 0;
    }
    return $t;
}

# Evaluate a Perl snippet (--- init, --- skip_eval) in this package and
# under strict, which is how Test::Nginx evaluates them too: qualify
# names (main::foo(), $main::x) - unqualified ones do not reach main::.
sub eval_in_util {
    my $code = shift;
    my $res = eval $code;    # under "use strict", as in Test::Nginx
    return ($res, $@);
}

# Find a TCP port nobody listens on (TEST_NGINX_RANDOMIZE and
# $TEST_NGINX_RAND_PORT_N).
sub free_port {
    my ($used) = @_;
    for (1 .. 1000) {
        my $port = 1985 + int rand(60000 - 1985);
        next if $used->{$port};
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => $port,
            Proto => 'tcp', Listen => 1, ReuseAddr => 1,
        ) or next;
        close $s;
        return $port;
    }
    return undef;
}

# Substitute $TEST_NGINX_FOO with $ENV{TEST_NGINX_FOO}.  Returns
# (text, undef) or (undef, error message) when a variable is undefined.
# $rand_ports caches $TEST_NGINX_RAND_PORT_N values for one block.
sub expand_env ($$) {
    my ($text, $rand_ports) = @_;
    return ($text, undef) unless defined $text;
    my $err;
    my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $rand_ports->{$var} //= free_port(\%used);
            $val = $rand_ports->{$var};
            $used{$val} = 1 if defined $val;
            $err //= "cannot find a free port for \$$var" unless defined $val;
        } else {
            $val = $ENV{$var};
            $err //= "no environment variable $var defined (used as \$$var)"
                unless defined $val;
        }
        defined $val ? $val : '';
    }ge;
    return defined $err ? (undef, $err) : ($text, undef);
}

# ---------------------------------------------------------------------
# nginx binary facts
# ---------------------------------------------------------------------

my ($VersionOut, $NginxVersion);

# Returns "nginx -V" output (dies when the binary cannot be run).
sub nginx_V () {
    return $VersionOut if defined $VersionOut;
    my $out = `$NginxBinary -V 2>&1`;
    if ($? != 0 || !defined $out) {
        die "cannot run \"$NginxBinary -V\" (TEST_NGINX_BINARY / PATH): "
            . ($out // $!) . "\n";
    }
    $VersionOut = $out;
    return $out;
}

# Canonical numeric version, e.g. 1.022001 for 1.22.1.
sub nginx_version () {
    return $NginxVersion if defined $NginxVersion;
    my $out = nginx_V();
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}) {
        $NginxVersion = sprintf "%d.%03d%03d", $1, $2, $3;
    }
    return $NginxVersion;
}

# ---------------------------------------------------------------------
# Server root
# ---------------------------------------------------------------------

# Wipe and recreate conf/, html/, logs/ (and *_temp, *_cache) under the
# server root.  Only those entries are removed, so a mis-set
# TEST_NGINX_SERVROOT cannot destroy unrelated data.
sub setup_server_root () {
    if (-d $ServRoot) {
        remove_tree($ConfDir, $HtmlDir, $LogDir,
                    glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
    }
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $d;
        make_path($d) or die "cannot create directory $d: $!\n";
    }
    open my $out, '>', "$HtmlDir/index.html"
        or die "cannot write $HtmlDir/index.html: $!\n";
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

# --- user_files: either ">>> name [mtime]" blocks or (eval) an array
# ref of [name, body, mtime] triples.  Relative names go under html/.
# Returns an error message or undef.
sub write_user_files ($$) {
    my ($files, $rand_ports) = @_;
    return undef unless defined $files && $files ne '';
    my @list;
    if (!ref $files) {
        my ($fname, $body, $date);
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @list, [$fname, $body, $date] if defined $fname;
                ($fname, $date, $body) = ($1, $2, undef);
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if defined $fname;
        return "--- user_files has no \">>> name\" line" unless @list;
    } elsif (ref $files eq 'ARRAY') {
        @list = @$files;
    } else {
        return "--- user_files must be a string or an ARRAY ref";
    }

    for my $f (@list) {
        my ($fname, $body, $date) = @$f;
        $body = '' unless defined $body;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{^(.*)/[^/]+$} && !-d $1) {
            make_path($1) or return "cannot create directory $1: $!";
        }
        my ($expanded, $err) = expand_env($body, $rand_ports);
        return "--- user_files $fname: $err" if defined $err;
        open my $out, '>', $path or return "cannot write $path: $!";
        binmode $out;
        print $out $expanded;
        close $out;
        if ($date) {
            system('touch', '-t', $date, $path) == 0
                or return "cannot set mtime $date on $path";
        }
    }
    return undef;
}

# ---------------------------------------------------------------------
# nginx.conf
# ---------------------------------------------------------------------

# %$c holds the block's already env-expanded sections: config,
# http_config, main_config, post_main_config, server_name, log_level.
sub write_config_file ($) {
    my ($c) = @_;
    my $config      = $c->{config}           // '';
    my $http_config = $c->{http_config}      // '';
    my $main_config = $c->{main_config}      // '';
    my $post_main   = $c->{post_main_config} // '';
    my $server_name = $c->{server_name}      // $ServerName;
    my $log_level   = $c->{log_level}        || $LogLevel;

    # Under valgrind nginx runs in the foreground as one process, so
    # that valgrind sees every allocation and reports at exit.
    my ($daemon, $master) = ('on', $MasterProcess);
    if ($UseValgrind && !$c->{must_die}) {
        ($daemon, $master) = ('off', 'off');
    }

    # Test::Nginx appends the load_module lines to --- main_config.
    if ($LoadModules) {
        my @mods = grep { length } split /\s+/, $LoadModules;
        $main_config .= join('', map { "\nload_module $_;" } @mods) . "\n"
            if @mods;
    }

    (my $quoted_name = $server_name) =~ s/(['\\])/\\$1/g;

    my $env = '';
    for my $v (qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS), @EnvToNginx) {
        $env .= $v =~ /\s/ ? "env '$v';\n" : "env $v;\n";
    }

    # Temp paths live under the server root so that nothing outside it
    # is written; skipped for a directive the test sets itself or for a
    # module the binary was built without.
    my $temp = '';
    my $all_text = "$main_config\n$http_config\n$config";
    my $V = nginx_V();
    for my $t ([client_body => undef], [proxy => 'http_proxy_module'],
               [fastcgi => 'http_fastcgi_module'],
               [uwsgi => 'http_uwsgi_module'], [scgi => 'http_scgi_module'])
    {
        my ($kind, $mod) = @$t;
        next if $mod && $V =~ /--without-\Q$mod\E\b/;
        next if $all_text =~ /\b${kind}_temp_path\b/;
        $temp .= "    ${kind}_temp_path $ServRoot/${kind}_temp;\n";
    }

    my $postpone = '';
    if (defined $PostponeOutput && $http_config !~ /\bpostpone_output\b/) {
        $postpone = "    postpone_output $PostponeOutput;\n";
    }

    my $listen_opts = $ReusePort ? ' reuseport' : '';

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $events_use = $EventType ? "    use $EventType;\n" : '';

    my $user = '';
    if (defined $WorkerUser) {
        $user = "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $user = "user root;\n";
    }

    open my $out, '>', $ConfFile or die "cannot write $ConfFile: $!\n";
    print $out <<"_EOC_";
worker_processes  $Workers;
daemon $daemon;
master_process $master;
error_log $ErrLogFile $log_level;
${\NginxReady::log_directive($LogDir)}pid       $PidFile;
$env
$main_config

http {
    access_log $AccLogFile;
$temp
    default_type text/plain;
    keepalive_timeout  68000ms;
$postpone
$http_config

    server {
        listen          $ServerPort$listen_opts;
        server_name     '$quoted_name';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main

events {
    accept_mutex off;
    worker_connections  $WorkerConns;
$events_use}
$user
_EOC_
    close $out or die "cannot write $ConfFile: $!\n";
}

# ---------------------------------------------------------------------
# Process handling
# ---------------------------------------------------------------------

# Is $pid alive?  A zombie counts as dead (our parent may not reap the
# daemonised nginx quickly); our own child is reaped on the way.
sub pid_alive ($) {
    my $pid = shift;
    return 0 unless $pid && $pid > 0;
    if ($NginxIsChild && defined $NginxPid && $pid == $NginxPid) {
        return 0 if defined $NginxExit;
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            $NginxExit = $?;
            return 0;
        }
        return 0 if $r == -1;
    }
    return 0 unless kill 0, $pid;
    if (open my $st, '<', "/proc/$pid/stat") {
        my $line = <$st> // '';
        close $st;
        if ($line =~ /^\d+ \(.*\) Z /s) {
            waitpid($pid, WNOHANG);    # ours (subreaper): reap it
            return 0;
        }
    }
    return 1;
}

# Reap zombie nginx processes re-parented to us (workers of a killed
# master, for instance).  Only nginx processes are touched, so children
# a test file started itself are left alone.
sub reap_orphans () {
    opendir my $dh, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $st, '<', "/proc/$pid/stat" or next;
        my $line = <$st> // '';
        close $st;
        if ($line =~ /^\d+ \((?:nginx|memcheck[^)]*|valgrind[^)]*)\) Z (\d+) /
            && $1 == $$)
        {
            waitpid($pid, WNOHANG);
        }
    }
    closedir $dh;
}

# Is $pid an nginx started on our server root (its command line names
# it)?  Checked before killing a pid read from a stale pid file, so that
# a recycled pid - maybe someone else's nginx - is never touched.
sub pid_is_ours ($) {
    my $pid = shift;
    open my $in, '<', "/proc/$pid/cmdline" or return 0;
    my $cmd = do { local $/; <$in> } // '';
    close $in;
    return $cmd =~ /nginx/ && index($cmd, "$ServRoot/") >= 0;
}

sub read_pid_file () {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;
    return undef unless defined $pid && $pid =~ /^\s*(\d+)\s*$/;
    return $1;
}

# Is anything listening on TCP $port?  Read from /proc so that no
# connection (and no log line) is made in nginx.
sub port_listening ($) {
    my $port = shift;
    my $hex = sprintf '%04X', $port;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        while (<$in>) {
            my @f = split;
            next unless @f > 3 && $f[1] =~ /:([0-9A-F]{4})$/;
            if ($1 eq $hex && $f[3] eq '0A') {
                close $in;
                return 1;
            }
        }
        close $in;
    }
    return 0;
}

sub nginx_running () {
    return defined $NginxPid && pid_alive($NginxPid);
}

sub slurp ($) {
    my $f = shift;
    open my $in, '<', $f or return '';
    binmode $in;
    my $s = do { local $/; <$in> };
    close $in;
    return $s // '';
}

# Fork and exec @cmd with stdout to /dev/null and stderr to
# $StderrFile.  Returns the child's pid.
sub spawn (@) {
    my @cmd = @_;
    my $pid = fork;
    die "fork failed: $!\n" unless defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', $StderrFile;
        exec @cmd or POSIX::_exit(127);
    }
    return $pid;
}

# Wait for child $pid to exit, at most $secs seconds.  Returns the wait
# status or undef on timeout.
sub wait_child ($$) {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid;
        return -1 if $r == -1;
        return undef if time > $deadline;
        sleep 0.01;
    }
}

sub nginx_cmd () {
    return ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
}

# Leaks of nginx itself at exit in single-process mode ("master_process
# off" never frees these); suppressed so that only real leaks (ours)
# are reported.  A ./valgrind.suppress file is used as well.
my $NginxCoreSupp = <<'_EOS_';
{
   nginx-core-environment
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   fun:ngx_set_environment
   ...
}
{
   nginx-core-single-process-connections
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   obj:*/nginx
   fun:ngx_single_process_cycle
}
_EOS_

sub valgrind_cmd () {
    my $supp = "$ConfDir/valgrind-nginx-core.supp";
    if (open my $out, '>', $supp) {
        print $out $NginxCoreSupp;
        close $out;
    }
    my @opts = ("--suppressions=$supp");
    if ($UseValgrind =~ /^\d+$/) {
        # Only leaks that are shown count as errors (exit status 99).
        push @opts, qw(--tool=memcheck --leak-check=full
                       --show-possibly-lost=no --errors-for-leak-kinds=definite);
    } else {
        push @opts, split ' ', $UseValgrind;
    }
    push @opts, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
    return ('valgrind', '-q', '--num-callers=100', '--error-exitcode=99',
            "--log-file=$ValgrindLog", @opts);
}

# Start nginx with the config already written.  Returns undef on
# success or an error message (including nginx's stderr).
sub start_nginx ($) {
    my ($owner) = @_;
    unlink $StderrFile, $PidFile;
    $ErrLogPos = 0;
    my $deadline;

    if ($UseValgrind) {
        # Foreground nginx (daemon off) as our own child under valgrind.
        my $pid = spawn(valgrind_cmd(), nginx_cmd());
        ($NginxPid, $NginxIsChild, $NginxOwner, $NginxExit)
            = ($pid, 1, $owner, undef);
        $deadline = time + 60;
        while (1) {
            if (!pid_alive($pid)) {
                ($NginxPid, $NginxIsChild, $NginxExit) = (undef, 0, undef);
                return "nginx (under valgrind) exited at startup:\n"
                       . slurp($StderrFile) . slurp($ValgrindLog);
            }
            my $p = read_pid_file();
            last if defined $p && $p == $pid && port_listening($ServerPort);
            if (time > $deadline) {
                stop_nginx();
                return "nginx (under valgrind) did not listen on port "
                       . "$ServerPort within 60s";
            }
            sleep 0.05;
        }
        diag_verbose("nginx started under valgrind, pid $pid");
        return wait_ready($pid);
    }

    # Normal mode: "daemon on", so the command exits once nginx has
    # bound its sockets and forked into the background.  A bind failure
    # ("Address already in use") is retried for a few seconds.
    my $tries = 0;
    while (1) {
        my $pid = spawn(nginx_cmd());
        my $status = wait_child($pid, 60);
        if (!defined $status) {
            kill SIGKILL, $pid;
            waitpid($pid, 0);
            return "\"@{[nginx_cmd()]}\" did not return within 60s";
        }
        last if $status == 0;
        my $err = slurp($StderrFile);
        if ($err =~ /Address already in use/ && ++$tries < 4) {
            diag_verbose("port $ServerPort busy, retrying");
            unlink $StderrFile;
            sleep 1;
            next;
        }
        return sprintf("cannot start nginx: \"%s\" exited with status %d:\n%s",
                       join(' ', nginx_cmd()), $status >> 8, $err);
    }

    # Wait for the daemon's pid file and its listening socket.
    $deadline = time + 10;
    while (1) {
        my $p = read_pid_file();
        if (defined $p && pid_alive($p) && port_listening($ServerPort)) {
            ($NginxPid, $NginxIsChild, $NginxOwner) = ($p, 0, $owner);
            diag_verbose("nginx started, pid $p");
            return wait_ready($p);
        }
        if (time > $deadline) {
            if (defined $p && pid_alive($p)) {
                ($NginxPid, $NginxIsChild) = ($p, 0);
                stop_nginx();
            }
            return "nginx started but did not write its pid file and listen "
                   . "on port $ServerPort within 10s:\n" . slurp($StderrFile)
                   . "\nerror.log:\n" . tail(slurp($ErrLogFile), 30);
        }
        sleep 0.01;
    }
}

# Listening is not enough: wait (bounded) until every worker's link to
# Redis is up (t/lib/NginxReady.pm).  Not an error when the bound runs
# out: a diagnostic, and the block's own checks say what fails.
sub wait_ready ($) {
    my ($pid) = @_;
    my $err = NginxReady::wait_links(conf => $ConfFile, logdir => $LogDir,
                                     from => 0, pid => $pid,
                                     timeout => $UseValgrind ? 120 : 20);
    print STDERR "# $err\n" if defined $err;
    return undef;
}

sub tail ($$) {
    my ($s, $n) = @_;
    my @l = split /\n/, $s;
    @l = @l[-$n .. -1] if @l > $n;
    return join("\n", @l) . "\n";
}

# Stop nginx: QUIT (graceful), then TERM, then KILL (the whole process
# group, which takes worker processes along).  Also adopts a pid file
# left by an earlier run in our own server root.  Returns a list of
# problems found (valgrind errors) for the caller to report.
sub stop_nginx () {
    my @problems;
    if (!defined $NginxPid) {
        my $p = read_pid_file();
        if (defined $p && pid_alive($p) && pid_is_ours($p)) {
            diag_verbose("stopping stale nginx $p from $PidFile");
            ($NginxPid, $NginxIsChild) = ($p, 0);
        }
    }
    my $pid = $NginxPid;
    return @problems unless defined $pid;

    my $grace = $UseValgrind ? 60 : $Timeout;
    if (pid_alive($pid)) {
        kill SIGQUIT, $pid;
        my $deadline = time + $grace;
        sleep 0.01 while pid_alive($pid) && time < $deadline;
    }
    my $step = $Sleep;
    for (1 .. 20) {
        last unless pid_alive($pid);
        kill SIGTERM, $pid;
        $step *= 1.2;
        $step = 0.5 if $step > 0.5;
        sleep $step;
    }
    if (pid_alive($pid)) {
        print STDERR "# WARNING: killing nginx $pid with SIGKILL\n";
        my $pgrp = getpgrp($pid);
        kill SIGKILL, (defined $pgrp && $pgrp == $pid) ? -$pid : $pid;
        sleep 0.05 while pid_alive($pid);
    }
    my $status = 0;
    if ($NginxIsChild) {
        if (!defined $NginxExit) {
            waitpid($pid, 0);
            $NginxExit = $?;
        }
        $status = $NginxExit;
    }
    unlink $PidFile;
    reap_orphans();

    if ($UseValgrind && $NginxIsChild) {
        my $log = slurp($ValgrindLog);
        if ($log =~ /\S/ || ($status >> 8) == 99) {
            push @problems, sprintf("valgrind reported errors for nginx pid %d "
                . "(exit status %d):\n%s", $pid, $status >> 8, $log);
        }
        # Keep each run's report apart (nginx re-creates the file).
        rename $ValgrindLog, "$ValgrindLog.$pid" if -e $ValgrindLog;
    }
    ($NginxPid, $NginxIsChild, $NginxExit) = (undef, 0, undef);
    return @problems;
}

# --- must_die: run nginx once and expect it to fail.  Returns
# (exit status, stderr text).  When nginx does start, it is stopped.
sub run_must_die () {
    unlink $StderrFile, $PidFile;
    $ErrLogPos = 0;
    my $pid = spawn(nginx_cmd());
    my $status = wait_child($pid, 60);
    if (!defined $status) {
        kill SIGKILL, $pid;
        waitpid($pid, 0);
        $status = $?;
    }
    my $stderr = slurp($StderrFile);
    if ($status == 0) {
        # It started: wait for the pid file, then stop it.
        my $deadline = time + 5;
        sleep 0.01 until defined read_pid_file() || time > $deadline;
        my $p = read_pid_file();
        if (defined $p) {
            ($NginxPid, $NginxIsChild) = ($p, 0);
            stop_nginx();
        }
    }
    return ($status, $stderr);
}

# ---------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------

sub reset_error_log_pos () { $ErrLogPos = 0 }

# Lines of error.log written since the previous call (since the start
# of the block for the first call): Test::Nginx semantics.  With
# check_accum_error_log() the whole file is returned every time.
sub error_log_lines () {
    sleep $Sleep * 3;    # let nginx finish log-phase writes
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if !$CheckAccumErrLog && $ErrLogPos > 0;
    my @lines = <$in>;
    $ErrLogPos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_lines () {
    sleep $Sleep * 3;
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

1;
