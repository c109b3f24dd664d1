package RedisCluster;

# A Redis Cluster of real redis-servers on loopback for the tests:
# cluster_start(masters => 3, replicas => 1) starts masters * (1 +
# replicas) nodes with cluster-enabled yes (node timeout 1 s, so a
# SIGKILLed master's replica takes over within a few seconds), creates the
# cluster with `redis-cli --cluster create` and waits for cluster_state:ok
# on every node.  Node ports stay below 55535: the cluster bus listens on
# port + 10000.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

our @EXPORT = qw(cluster_start cluster_stop cluster_cli cluster_wait_ok
                 cluster_masters cluster_master_of cluster_kill
                 cluster_scripts cluster_eval);

my @all;

END { cluster_stop($_) for @all }

sub _port_free {
    my ($p) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p,
                                  Listen => 1, ReuseAddr => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# n consecutive node ports whose bus ports are free too
sub _ports {
    my ($n) = @_;
    TRY: for (1 .. 100) {
        my $base = 21000 + int(rand(30000));
        for my $p ($base .. $base + $n - 1) {
            next TRY unless _port_free($p) && _port_free($p + 10000);
        }
        return ($base .. $base + $n - 1);
    }
    die "no free port range for a cluster\n";
}

sub cluster_cli {
    my ($port, @args) = @_;
    my $q = join ' ', map { "'$_'" } @args;
    my $out = `redis-cli -h 127.0.0.1 -p $port $q 2>&1`;
    chomp $out;
    return $out;
}

sub cluster_start {
    my (%o) = @_;
    my $masters = $o{masters} // 3;
    my $replicas = $o{replicas} // 1;
    my @ports = _ports($masters * (1 + $replicas));
    my $c = { ports => \@ports, dir => tempdir(CLEANUP => 1), dead => {} };

    for my $p (@ports) {
        my $d = "$c->{dir}/$p";
        mkdir $d;
        system('redis-server', '--port', $p, '--bind', '127.0.0.1',
               '--cluster-enabled', 'yes',
               '--cluster-config-file', "$d/nodes.conf",
               '--cluster-node-timeout', $o{node_timeout} // 1000,
               '--dir', $d, '--save', '', '--appendonly', 'no',
               '--daemonize', 'yes', '--pidfile', "$d/redis.pid",
               '--logfile', "$d/redis.log") == 0
            or die "redis-server failed\n";
    }

    push @all, $c;

    for my $p (@ports) {
        my $deadline = time + 10;
        sleep 0.05 until cluster_cli($p, 'PING') eq 'PONG'
                         || time > $deadline;
    }

    my $q = join ' ', map { "127.0.0.1:$_" } @ports;
    my $out = `redis-cli --cluster create $q --cluster-replicas $replicas --cluster-yes 2>&1`;
    $? == 0 or die "redis-cli --cluster create failed: $out\n";

    cluster_wait_ok($c, 30) or die "the cluster did not become ok\n";

    return $c;
}

# every live node says cluster_state:ok and agrees on the masters
sub cluster_wait_ok {
    my ($c, $timeout) = @_;
    my $deadline = time + ($timeout // 20);
    while (time < $deadline) {
        my $ok = 1;
        for my $p (@{$c->{ports}}) {
            next if $c->{dead}{$p};
            my $info = cluster_cli($p, 'CLUSTER', 'INFO');
            $ok = 0, last unless $info =~ /cluster_state:ok/
                                 && $info =~ /cluster_slots_ok:16384/;
        }
        return 1 if $ok;
        sleep 0.1;
    }
    return 0;
}

# the ports of the masters now, from the first live node's CLUSTER NODES
sub cluster_masters {
    my ($c) = @_;
    my ($p) = grep { !$c->{dead}{$_} } @{$c->{ports}};
    my @m;
    for (split /\n/, cluster_cli($p, 'CLUSTER', 'NODES')) {
        my @f = split / /;
        next unless $f[2] =~ /master/ && $f[2] !~ /fail/ && @f > 8;
        push @m, $1 if $f[1] =~ /:(\d+)@/;
    }
    return sort { $a <=> $b } @m;
}

# the port of the master that owns key's slot now
sub cluster_master_of {
    my ($c, $key) = @_;
    my ($p) = grep { !$c->{dead}{$_} } @{$c->{ports}};
    my $slot = cluster_cli($p, 'CLUSTER', 'KEYSLOT', $key);
    for (split /\n/, cluster_cli($p, 'CLUSTER', 'NODES')) {
        my @f = split / /;
        next unless $f[2] =~ /master/ && $f[2] !~ /fail/;
        for my $r (@f[8 .. $#f]) {
            my ($a, $b) = split /-/, $r;
            next if $a =~ /^\[/;
            $b //= $a;
            return $1 if $slot >= $a && $slot <= $b && $f[1] =~ /:(\d+)@/;
        }
    }
    return undef;
}

sub cluster_kill {
    my ($c, $port) = @_;
    open my $fh, '<', "$c->{dir}/$port/redis.pid" or die "no pid: $!\n";
    my $pid = <$fh>;
    chomp $pid;
    kill 'KILL', $pid;
    $c->{dead}{$port} = 1;
}

sub cluster_stop {
    my ($c) = @_;
    for my $p (@{$c->{ports}}) {
        next if $c->{dead}{$p};
        system("redis-cli -p $p shutdown nosave >/dev/null 2>&1");
    }
    $c->{dead}{$_} = 1 for @{$c->{ports}};
}

# the Lua text of the "#define NAME" string macros of a C header whose
# name matches $re (e.g. qr/^SS_CLUSTER_SCRIPT_/), macros expanded
sub cluster_scripts {
    my ($file, $re) = @_;
    open my $fh, '<', $file or die "$file: $!\n";
    my $text = join '', <$fh>;
    $text =~ s/\\\n/ /g;
    my %def;
    while ($text =~ /^#define\s+(\w+)\s+(.*)$/mg) {
        $def{$1} = $2;
    }
    my $expand;
    $expand = sub {
        my ($body) = @_;
        my $s = '';
        while ($body =~ /\G\s*(?:"((?:[^"\\]|\\.)*)"|(\w+))/gc) {
            if (defined $1) {
                (my $l = $1) =~ s/\\n/\n/g;
                $l =~ s/\\(["\\])/$1/g;
                $s .= $l;
            } else {
                $s .= $expand->($def{$2} // die "unknown macro $2\n");
            }
        }
        return $s;
    };
    my %out;
    $out{$_} = $expand->($def{$_}) for grep { /$re/ } keys %def;
    return %out;
}

# EVAL of a script on the cluster exactly as a client sends it: the keys
# given as keys (redis-cli -c routes by the first one's slot, following
# MOVED).  Returns redis-cli's output (nested arrays flattened, one value
# a line; an empty string is an empty line).
sub cluster_eval {
    my ($c, $lua, $keys, @args) = @_;
    my ($p) = grep { !$c->{dead}{$_} } @{$c->{ports}};
    my $sh = sub { my $v = shift; $v =~ s/'/'\\''/g; "'$v'" };
    my $q = join ' ', map { $sh->($_) } $lua, scalar(@$keys), @$keys, @args;
    my $out = `redis-cli -c -h 127.0.0.1 -p $p EVAL $q 2>&1`;
    chomp $out;
    return $out;
}

1;
