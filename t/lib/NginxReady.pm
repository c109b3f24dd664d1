package NginxReady;

# Readiness after an nginx start, restart or reload, shared by both test
# harnesses (t/lib/SessionTest.pm and the Test::Nginx stand-in under
# t/harness).  Listening is not enough: a worker whose link to Redis is
# still being set up answers 503 (under valgrind the first connection can
# take longer than connect_timeout and is retried with backoff).  So a test
# goes on only once every current worker has said
#
#     session: redis link up (worker pid N)
#
# (logged at "notice" once per worker process, when its command link and,
# with session_cache, its subscriber link are first ready).  The harnesses
# add a second error_log at "notice" (NginxReady::log_directive) so that
# the line is seen whatever the test's own log level.
#
# Nothing is awaited when the configuration has no session_redis (such a
# worker opens no link), nor after a reload that nginx refused (an [emerg]
# line and no new worker: the old workers go on).  A worker that reported its Redis unavailable
# counts as settled when nobody answers at the configured address (a test
# of an outage); while Redis does answer, a failed first attempt is only
# slowness and the wait goes on, bounded.
#
# Only core Perl modules are used.

use strict;
use warnings;

use IO::Socket::INET ();
use IO::Socket::UNIX ();
use IO::Select ();
use Socket ();
use Time::HiRes qw(sleep time);

our $LogName = 'notice.log';

# the extra error_log line for nginx.conf's main level
sub log_directive {
    my ($logdir) = @_;
    return "error_log $logdir/$LogName notice;\n";
}

sub log_file {
    my ($logdir) = @_;
    return "$logdir/$LogName";
}

# the current size of the readiness log: pass it as "from" to wait_links()
sub mark {
    my ($logdir) = @_;
    return -s log_file($logdir) || 0;
}

sub slurp {
    my ($f, $from) = @_;
    open my $in, '<', $f or return '';
    seek $in, $from, 0 if $from;
    local $/;
    my $s = <$in>;
    close $in;
    return $s // '';
}

# The session_redis directives of a configuration file: a list of
# addresses, each "unix:/path" or [host, port].
sub redis_addresses {
    my ($conf) = @_;
    my $text = slurp($conf);
    $text =~ s/#[^\n]*//g;
    my @addr;
    while ($text =~ /(?:^|[;{}])\s*session_redis\s+([^;]*);/g) {
        for my $arg (split ' ', $1) {
            my @list;
            if ($arg =~ /^sentinel=(.*)$/) {
                @list = split /,/, $1;
            } elsif ($arg !~ /=/) {
                @list = ($arg);
            }
            for my $a (@list) {
                if ($a =~ /^unix:(.+)$/) {
                    push @addr, "unix:$1";
                } elsif ($a =~ /^\[([^\]]+)\](?::(\d+))?$/
                         || $a =~ /^([^:]+)(?::(\d+))?$/)
                {
                    push @addr, [$1, $2 // 6379];
                }
            }
        }
        # the directive is there even when no address could be read
        push @addr, undef unless @addr;
    }
    return @addr;
}

# Does a Redis (or a sentinel) answer PING at one of these addresses?
sub probe {
    my (@addr) = @_;
    for my $a (grep { defined } @addr) {
        my $s;
        if (!ref $a) {
            (my $path = $a) =~ s/^unix://;
            $s = IO::Socket::UNIX->new(Type => Socket::SOCK_STREAM(),
                                       Peer => $path);
        } else {
            $s = IO::Socket::INET->new(PeerAddr => $a->[0],
                                       PeerPort => $a->[1], Timeout => 1);
        }
        next unless $s;
        syswrite $s, "PING\r\n";
        my $got = '';
        if (IO::Select->new($s)->can_read(1)) {
            sysread $s, $got, 64;
        }
        close $s;
        return 1 if $got =~ /^\+/;
    }
    return 0;
}

sub alive {
    my ($pid) = @_;
    open my $st, '<', "/proc/$pid/stat" or return 0;
    my $line = <$st> // '';
    close $st;
    return $line !~ /^\d+ \(.*\) [ZX] /s;
}

sub conf_value {
    my ($conf, $name) = @_;
    my $text = slurp($conf);
    $text =~ s/#[^\n]*//g;
    return $text =~ /(?:^|[;{}])\s*\Q$name\E\s+([^;\s]+)\s*;/ ? $1 : undef;
}

# wait_links(conf => nginx.conf, logdir => DIR, from => mark() taken before
# the start or reload, pid => the nginx pid when it runs without a master
# process, timeout => seconds).  Returns undef once every current worker
# is ready (or settled, see above), else a message saying who is not.
sub wait_links {
    my (%o) = @_;
    my @addr = redis_addresses($o{conf});
    return undef unless @addr;

    my $master = lc(conf_value($o{conf}, 'master_process') // 'on') ne 'off';
    my $n = conf_value($o{conf}, 'worker_processes') // 1;
    if ($n eq 'auto') {
        $n = `getconf _NPROCESSORS_ONLN 2>/dev/null` || 1;
        chomp $n;
    }
    my $file = log_file($o{logdir});
    my $deadline = time + ($o{timeout} // 20);
    my ($probe_at, $answers) = (0, 0);
    my @waiting;

    while (1) {
        my $log = slurp($file, $o{from});
        my (@started, %up, %down, $refused);
        while ($log =~ /^[^\n]*$/mg) {
            my $l = $&;
            if ($l =~ /\[emerg\]/ && $l !~ /bind\(\) to .* failed/) {
                # the new configuration was refused (a failed reload:
                # bind() is retried before "still could not bind()")
                $refused = 1;
            } elsif ($l =~ /start worker process (\d+)/) {
                push @started, $1;
            } elsif ($l =~ /\] (\d+)#\d+: .*session: redis link up/) {
                $up{$1} = 1;
            } elsif ($l =~ /\] (\d+)#\d+: .*session redis.* unavailable: /) {
                $down{$1} = 1;
            }
        }
        # the workers of the previous configuration go on, already ready
        return undef if $refused && !@started;
        my @pids = $master ? @started : grep { defined } ($o{pid});
        @waiting = grep { !$up{$_} && alive($_) } @pids;
        if (@waiting && grep { $down{$_} } @waiting) {
            if (time >= $probe_at) {
                $answers = probe(@addr);
                $probe_at = time + 0.5;
            }
            @waiting = grep { !$down{$_} } @waiting unless $answers;
        }
        return undef if !@waiting && (!$master || @started >= $n);
        if (time > $deadline) {
            return sprintf "nginx workers not linked to Redis after %.0f s: "
                           . "%s (see %s)", $o{timeout} // 20,
                           @waiting ? "@waiting"
                                    : scalar(@started) . " of $n started",
                           $file;
        }
        sleep 0.05;
    }
}

1;
