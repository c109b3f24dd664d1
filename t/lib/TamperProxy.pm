package TamperProxy;

# A TCP proxy in front of a real redis-server that tampers with the
# replies, for the tests of a misbehaving Redis (or a path in between).
# It parses both directions as RESP, so it knows which command each reply
# answers, and applies the mode read from a file before each reply:
#
#   pass                  forward as is
#   dup[:CMD]             send the reply twice
#   inject[:CMD]          send "+OK\r\n" after the reply
#   protoerr[:CMD]        send "?garbage\r\n" instead of the reply
#   wrongtype[:CMD]       send ":1\r\n" instead of the reply
#   badpush               replace every reply that answers no command (a
#                         pub/sub message) with "*1\r\n:1\r\n"
#   delay:CMD:MS          hold the replies to CMD for MS milliseconds (the
#                         replies after them on that connection wait too;
#                         other connections, e.g. pub/sub, do not)
#
# CMD (upper case) limits the tampering to the replies to that command.
# tamper_start(upstream_port) -> { port, pid, mode_file };
# tamper_mode($p, 'dup') switches (every connection, from its next reply).

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time);

our @EXPORT = qw(tamper_start tamper_mode tamper_stop);

my @children;

END {
    tamper_stop($_) for @children;
}

sub tamper_mode {
    my ($p, $mode) = @_;
    my $tmp = "$p->{mode_file}.tmp";
    open my $fh, '>', $tmp or die "$tmp: $!";
    print $fh $mode;
    close $fh;
    rename $tmp, $p->{mode_file} or die "rename: $!";
}

sub tamper_stop {
    my ($p) = @_;
    return unless $p->{pid};
    kill 'TERM', $p->{pid};
    waitpid $p->{pid}, 0;
    $p->{pid} = 0;
}

# the end of the RESP value at $pos in $$b, or -1 when incomplete
sub resp_end {
    my ($b, $pos) = @_;
    my $nl = index($$b, "\r\n", $pos);
    return -1 if $nl < 0;
    my $t = substr($$b, $pos, 1);
    my $v = substr($$b, $pos + 1, $nl - $pos - 1);
    my $q = $nl + 2;
    if ($t eq '$') {
        return $q if $v < 0;
        my $e = $q + $v + 2;
        return length($$b) >= $e ? $e : -1;
    }
    if ($t eq '*') {
        return $q if $v < 0;
        for (1 .. $v) {
            $q = resp_end($b, $q);
            return -1 if $q < 0;
        }
        return $q;
    }
    return $q;
}

sub tamper_start {
    my ($upstream) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $p = { mode_file => "$dir/mode" };
    tamper_mode($p, 'pass');
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 64, ReuseAddr => 1)
        or die "tamper listen: $!";
    $p->{port} = $l->sockport;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid) {
        close $l;
        $p->{pid} = $pid;
        push @children, $p;
        return $p;
    }
    @children = ();
    run($l, $upstream, $p->{mode_file});
    POSIX::_exit(0);
}

sub mode {
    my ($file) = @_;
    open my $fh, '<', $file or return 'pass';
    my $m = <$fh> // 'pass';
    close $fh;
    $m =~ s/\s+//g;
    return $m;
}

sub run {
    my ($l, $upstream, $mode_file) = @_;
    $SIG{TERM} = sub { POSIX::_exit(0) };
    $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($l);
    my %peer;      # fileno -> the other socket
    my %conn;      # fileno of the client -> state
    my %sock;      # fileno -> socket
    while (1) {
        flush_due(\%conn);
        my @ready = $sel->can_read(0.02);
        for my $s (@ready) {
            next unless defined fileno $s;
            if ($s == $l) {
                my $c = $l->accept or next;
                my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $upstream);
                unless ($u) { close $c; next; }
                $peer{fileno $c} = $u;
                $peer{fileno $u} = $c;
                $sock{fileno $c} = $c;
                $sock{fileno $u} = $u;
                $conn{fileno $c} = { client => $c, cbuf => '', sbuf => '',
                                     cmds => [], outq => [] };
                $conn{fileno $u} = $conn{fileno $c};
                $sel->add($c, $u);
                next;
            }
            my $st = $conn{fileno $s} or next;
            next unless $st->{client} == $s || $peer{fileno $s};
            my $n = sysread $s, my $buf, 65536;
            if (!$n) {
                my @pair = ($s, $peer{fileno $s});
                for my $x (@pair) {
                    next unless $x && defined fileno $x;
                    $sel->remove($x);
                    delete $peer{fileno $x};
                    delete $conn{fileno $x};
                    delete $sock{fileno $x};
                    close $x;
                }
                next;
            }
            my $other = $peer{fileno $s};
            if ($s == $st->{client}) {
                # commands: forwarded as they come, their names queued
                $st->{cbuf} .= $buf;
                while (length $st->{cbuf}) {
                    my $e = resp_end(\$st->{cbuf}, 0);
                    last if $e < 0;
                    my $cmd = substr($st->{cbuf}, 0, $e, '');
                    my ($name) = $cmd =~ /^\*\d+\r\n\$\d+\r\n([^\r]*)/;
                    push @{ $st->{cmds} }, uc($name // '');
                }
                syswrite $other, $buf;
                next;
            }
            # replies: whole ones, each after the mode of the moment
            $st->{sbuf} .= $buf;
            my $out = '';
            my $due = time;
            while (length $st->{sbuf}) {
                my $e = resp_end(\$st->{sbuf}, 0);
                last if $e < 0;
                my $reply = substr($st->{sbuf}, 0, $e, '');
                my $cmd = shift @{ $st->{cmds} };
                # on a subscribed link the messages answer no command
                my $m = mode($mode_file);
                my ($what, $only, $arg) = split /:/, $m, 3;
                if ($what eq 'badpush') {
                    $out .= defined $cmd ? $reply : "*1\r\n:1\r\n";
                    next;
                }
                if ($what eq 'pass' || (defined $only
                                        && ($cmd // '') ne $only))
                {
                    $out .= $reply;
                } elsif ($what eq 'dup') {
                    $out .= $reply . $reply;
                } elsif ($what eq 'inject') {
                    $out .= $reply . "+OK\r\n";
                } elsif ($what eq 'protoerr') {
                    $out .= "?garbage\r\n";
                } elsif ($what eq 'wrongtype') {
                    $out .= ":1\r\n";
                } elsif ($what eq 'delay') {
                    push @{ $st->{outq} }, [$due, $out] if length $out;
                    $out = '';
                    $due = time + ($arg // 500) / 1000;
                    push @{ $st->{outq} }, [$due, $reply];
                } else {
                    $out .= $reply;
                }
            }
            push @{ $st->{outq} }, [$due, $out] if length $out;
            flush_due(\%conn);
        }
    }
}

# writes the replies that are due, in order, connection by connection
sub flush_due {
    my ($conn) = @_;
    my $now = time;
    my %done;
    for my $st (values %$conn) {
        next if $done{"$st"}++;
        my $q = $st->{outq};
        while (@$q && $q->[0][0] <= $now) {
            my $item = shift @$q;
            syswrite $st->{client}, $item->[1]
                if defined fileno $st->{client};
        }
    }
}

1;
