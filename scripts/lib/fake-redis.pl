#!/usr/bin/perl
# A fake Redis for scripts/faults: listens on 127.0.0.1:PORT, reads RESP
# commands and answers each one according to the mode written in MODEFILE
# (re-read for every command, so the caller switches modes without a
# restart; the module keeps, or re-opens, its connection to the same port).
#
#   fake-redis.pl PORT MODEFILE LOGFILE
#
# Modes:
#   ok        "+OK" to everything (a status reply where the module expects
#             an integer or an array)
#   err       "-ERR ..." to everything (SCRIPT LOAD fails too)
#   int0      ":0" to everything (an integer where the lookup, HGET,
#             answers a string)
#   ints      an array of 5 integers (the right shape, wrong types)
#   random    64 random bytes
#   halfbulk  half a bulk string ("$64" and 10 bytes), then close
#   nest      an array nested 12 deep (hiredis refuses more than 7)
#   hugebulk  "$2147483647" and nothing more (a bulk that never ends)
#   close     close the connection as soon as a command arrives
#   silent    read everything, answer nothing
#
# LOGFILE gets one line per event: "<unix time> accept", "<time> cmd NAME
# mode", "<time> close".  Loopback only; runs until killed.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

my ($port, $modefile, $logfile) = @ARGV;
die "usage: $0 PORT MODEFILE LOGFILE\n" unless $logfile;

my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                Listen => 128, ReuseAddr => 1)
    or die "fake-redis: listen on $port: $!\n";
open my $log, '>>', $logfile or die "fake-redis: $logfile: $!\n";
$log->autoflush(1);

$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = sub { exit 0 };

my $sel = IO::Select->new($srv);
my %buf;

sub mode {
    open my $fh, '<', $modefile or return 'ok';
    my $m = <$fh> // 'ok';
    $m =~ s/\s+//g;
    return $m || 'ok';
}

sub drop {
    my ($c) = @_;
    $sel->remove($c);
    delete $buf{"$c"};
    close $c;
    printf $log "%.3f close\n", time;
}

# one complete RESP array command off the front of the buffer, or undef
sub take_command {
    my ($b) = @_;
    return undef unless $$b =~ /^\*(\d+)\r\n/;
    my $n = $1;
    my $pos = length("*$n\r\n");
    my @args;
    for (1 .. $n) {
        return undef unless substr($$b, $pos) =~ /^\$(\d+)\r\n/;
        my $len = $1;
        my $hdr = length("\$$len\r\n");
        return undef if length($$b) < $pos + $hdr + $len + 2;
        push @args, substr($$b, $pos + $hdr, $len);
        $pos += $hdr + $len + 2;
    }
    substr($$b, 0, $pos) = '';
    return \@args;
}

sub answer {
    my ($c, $mode) = @_;
    if ($mode eq 'ok')       { return "+OK\r\n" }
    if ($mode eq 'err')      { return "-ERR fake redis says no\r\n" }
    if ($mode eq 'int0')     { return ":0\r\n" }
    if ($mode eq 'ints')     { return "*5\r\n" . (":1\r\n" x 5) }
    if ($mode eq 'random')   { return join '', map { chr int rand 256 } 1 .. 64 }
    if ($mode eq 'nest')     { return ("*1\r\n" x 12) . ":1\r\n" }
    if ($mode eq 'hugebulk') { return "\$2147483647\r\n" }
    if ($mode eq 'halfbulk') { return "\$64\r\n0123456789" }
    return '';
}

while (1) {
    for my $c ($sel->can_read(1)) {
        if ($c == $srv) {
            my $n = $srv->accept or next;
            $n->autoflush(1);
            $sel->add($n);
            $buf{"$n"} = '';
            printf $log "%.3f accept\n", time;
            next;
        }
        my $r = sysread $c, my $chunk, 65536;
        if (!$r) {
            drop($c);
            next;
        }
        $buf{"$c"} .= $chunk;
        while (my $cmd = take_command(\$buf{"$c"})) {
            my $mode = mode();
            printf $log "%.3f cmd %s %s\n", time, uc($cmd->[0] // '?'), $mode;
            if ($mode eq 'close') {
                drop($c);
                last;
            }
            next if $mode eq 'silent';
            syswrite $c, answer($c, $mode);
            if ($mode eq 'halfbulk') {          # close mid-reply
                drop($c);
                last;
            }
        }
    }
}
