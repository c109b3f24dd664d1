# Redis Cluster: a 3-master, 3-replica cluster of real redis-servers on
# loopback, created with `redis-cli --cluster create`.  The Cluster key
# layout (session_store.h, docs/redis.md) and sessionctl on it: create,
# show, list, revoke, revoke-all on every master; no script touches
# another slot (no CROSSSLOT), the nginx-side cluster scripts included
# (create with renewal, retire, revoke all with chains); a revocation
# published on one node reaches a subscriber of another; a master
# SIGKILLed and replaced by its replica loses no session and is followed
# within 5 s; a reshard of thousands of slots under load refuses no
# valid session.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use RedisCluster;
use Time::HiRes qw(time sleep);
use POSIX ();

my $keys = test_keys_dir();
my $c = cluster_start(masters => 3, replicas => 1);
my @ports = @{$c->{ports}};
my $seeds = join ',', map { "127.0.0.1:$_" } @ports[0, 1];

sub ctl { sessionctl('--keys', "$keys/ring1.keys", '--redis',
                     "cluster=$seeds", '--prefix', 'tc:', @_) }
sub slot { cluster_cli($ports[0], 'CLUSTER', 'KEYSLOT', $_[0]) }

my @masters = cluster_masters($c);
is(scalar @masters, 3, 'three masters');

# --- the C slot function agrees with the cluster -------------------------

my $out = `$FindBin::Bin/../build/test_slot`;
my $rc = $? >> 8;
is($rc, 0, 'unit tests of session_slot.c pass');

# --- sessionctl on the cluster -------------------------------------------

my (%cookie, %owner);
for my $i (1 .. 24) {
    my ($ck, $r) = ctl('create', "user$i", "n=$i");
    is($r, 0, "create user$i") or diag $ck;
    $cookie{"user$i"} = $ck;
}

# every master holds sessions: commands were routed by slot
my %keys_on;
for my $m (cluster_masters($c)) {
    $keys_on{$m} = cluster_cli($m, 'DBSIZE');
}
is(scalar(grep { $_ > 0 } values %keys_on), 3,
   'sessions spread over the three masters')
    or diag explain \%keys_on;

# the session's record and its subject's index share a slot
for my $u ('user1', 'user7') {
    my @k = grep { /^tc:/ } split /\n/,
        `redis-cli -c -p $ports[0] --scan --pattern 'tc:*' 2>/dev/null`;
    my @mk;
    for my $m (cluster_masters($c)) {
        push @mk, grep { /^tc:/ } split /\n/,
            cluster_cli($m, '--scan', '--pattern', 'tc:*');
    }
    my ($idx) = grep { /^tc:u:\{[0-9a-f]{4}\}\Q$u\E$/ } @mk;
    ok($idx, "$u has a tagged index key") or next;
    my ($tag) = $idx =~ /\{(....)\}/;
    my @sess = grep { /^tc:s:\{\Q$tag\E\}\Q$tag\E[0-9a-f]{60}$/ } @mk;
    ok(@sess >= 1, "$u: the session key carries the subject's tag");
    is(slot($sess[0]), slot($idx), "$u: session and index on one slot");
}

($out, $rc) = ctl('show', $cookie{user3});
is($rc, 0, 'show finds the session');
like($out, qr/subject:\s+user3/, 'show: the subject');

($out, $rc) = ctl('list', 'user5');
is($rc, 0, 'list');
is(scalar(() = $out =~ /^[0-9a-f]{16}\s/mg), 1, 'list: one session');

# a second session of user5, then revoke one, then revoke-all
my ($c5b) = ctl('create', 'user5');
($out) = ctl('list', 'user5');
is(scalar(() = $out =~ /^[0-9a-f]{16}\s/mg), 2, 'list: two sessions');

(undef, $rc) = ctl('revoke', $cookie{user5});
is($rc, 0, 'revoke');
(undef, $rc) = ctl('show', $cookie{user5});
is($rc, 3, 'the revoked session is gone');
(undef, $rc) = ctl('show', $c5b);
is($rc, 0, 'the other session of the subject lives');

my ($c5c) = ctl('create', 'user5');
($out, $rc) = ctl('revoke-all', 'user5');
is($rc, 0, 'revoke-all');
is($out, '2', 'revoke-all ended two sessions');
(undef, $rc) = ctl('show', $_), is($rc, 3, 'ended by revoke-all')
    for $c5b, $c5c;
($out) = ctl('list', 'user5');
is($out, '', 'list after revoke-all: nothing');

# --- a revocation is published cluster-wide ------------------------------

{
    my ($ck) = ctl('create', 'pubsub-user');
    my $owner = cluster_master_of($c, 'tc:u:{' . tag_of('pubsub-user')
                                      . '}pubsub-user');
    my ($other) = grep { $_ != $owner } @ports;
    my $file = "$c->{dir}/sub.out";
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', $file;
        exec 'timeout', '6', 'redis-cli', '-p', $other, 'SUBSCRIBE',
             'tc:revoked';
    }
    # until the subscription is up
    for (1 .. 50) {
        last if cluster_cli($other, 'PUBSUB', 'NUMSUB', 'tc:revoked')
                =~ /\b1\s*$/;
        sleep 0.1;
    }
    (undef, $rc) = ctl('revoke', $ck);
    is($rc, 0, 'revoke (published on the owner ' . $owner . ')');
    waitpid $pid, 0;
    open my $fh, '<', $file;
    my $got = join '', <$fh>;
    like($got, qr/^[0-9a-f]{64}$/m,
         "a subscriber on node $other (not the owner) got the hash");
}

sub tag_of {
    my ($s) = @_;
    # the tag the index key got: read it back from the cluster
    for my $m (cluster_masters($c)) {
        for (split /\n/, cluster_cli($m, '--scan', '--pattern',
                                     "tc:u:*}$s")) {
            return $1 if /\{(....)\}/;
        }
    }
    return '';
}

# --- the module's cluster scripts: no CROSSSLOT ---------------------------

my %script = cluster_scripts("$FindBin::Bin/../src/session_store.h",
                             qr/^SS_CLUSTER_SCRIPT_/);

sub ev {
    my ($name, $keys, @args) = @_;
    my $q = join ' ', map { "'$_'" } @args;
    my $k = join ' ', map { "'$_'" } @$keys;
    my $out = `redis-cli -c -p $ports[0] EVAL "\$(cat $c->{dir}/$name.lua)" ${\ scalar @$keys} $k $q 2>&1`;
    chomp $out;
    return $out;
}
for (keys %script) {
    open my $fh, '>', "$c->{dir}/$_.lua";
    print $fh $script{$_};
}

{
    # login A of alice, then login B renewing A (same tag: one script),
    # then a login of mallory over alice's cookie (another tag: retire)
    my $t = tag_of_new('alice');
    my $a = $t . ('a' x 60);
    my $b = $t . ('b' x 60);
    my $sk = sub { "tc:s:{" . substr($_[0], 0, 4) . "}$_[0]" };
    my $ix = "tc:u:{$t}alice";
    my $now = time;
    is(ev('SS_CLUSTER_SCRIPT_CREATE', [$sk->($a), $ix], 'alice', int $now,
          int $now + 3600, 600, '', $a), "1\n0", 'cluster create');
    is(ev('SS_CLUSTER_SCRIPT_CREATE', [$sk->($b), $ix], 'alice', int $now,
          int $now + 3600, 600, '', $b, 'tc:', $a, 'sealed', 30), "1\n0",
       'cluster create renewing a session of the same tag: one script');
    like(ev('SS_CLUSTER_SCRIPT_CREATE', [$sk->($b), $ix], 'alice', int $now,
            int $now + 3600, 600, '', $b), qr/^1\n0$/, 'no CROSSSLOT');
    my $nx = `redis-cli -c -p $ports[0] HGET '${\ $sk->($a)}' nx`;
    chomp $nx;
    is($nx, $b, 'the renewed record points at the new one');

    my $mt = tag_of_new('mallory');
    my $m = $mt . ('c' x 60);
    my $mix = "tc:u:{$mt}mallory";
    is(ev('SS_CLUSTER_SCRIPT_CREATE', [$sk->($m), $mix], 'mallory',
          int $now, int $now + 3600, 600, '', $m, 'tc:', $b, 'sealed', 30),
       "1\n1", 'renewing a session of another tag: left to RETIRE');
    is(ev('SS_CLUSTER_SCRIPT_RETIRE', [$sk->($b)], 'tc:', $b, 'mallory', $m,
          'sealed', 30), 'alice', 'retire deletes the other subject\'s one');
    is(`redis-cli -c -p $ports[0] EXISTS '${\ $sk->($b)}'` + 0, 0,
       'gone');

    # revoke-all of alice: A's chain ended (B already gone), no CROSSSLOT
    my $r = ev('SS_CLUSTER_SCRIPT_REVOKE_ALL', [$ix], 'tc:', $t, 'alice');
    is($r, '0', 'cluster revoke-all runs (no live session left: A was '
       . 'renewed into B, which mallory\'s login deleted)') or diag $r;

    # a chain that leaves the slot (a migrated record): reported as far
    my $legacy = 'f00d' . ('d' x 60);
    $legacy = 'f00e' . ('d' x 60) if $legacy =~ /^\Q$t\E/;
    `redis-cli -c -p $ports[0] HSET '${\ $sk->($a)}' sub alice nx $legacy`;
    `redis-cli -c -p $ports[0] HSET '${\ $sk->($legacy)}' sub alice`;
    $r = ev('SS_CLUSTER_SCRIPT_REVOKE', [$sk->($a)], 'tc:', $t, $a);
    like($r, qr/^0\n\Q$legacy\E$/, 'a far hop is returned, not followed')
        or diag $r;
    $r = ev('SS_CLUSTER_SCRIPT_REVOKE', [$sk->($legacy)], 'tc:',
            substr($legacy, 0, 4), $legacy);
    is($r, '1', 'and ended by one more script on its slot');
}

# the tag of a subject, from a session sessionctl creates for it
sub tag_of_new {
    my ($s) = @_;
    my ($ck) = ctl('create', $s);
    my $t = tag_of($s);
    ctl('revoke-all', $s);
    return $t;
}

# --- failover: a master SIGKILLed, its replica promoted -----------------

{
    # the replicas have every write before the kill
    for my $m (cluster_masters($c)) {
        my $deadline = time + 10;
        while (time < $deadline) {
            my $info = cluster_cli($m, 'INFO', 'replication');
            my ($mo) = $info =~ /master_repl_offset:(\d+)/;
            my ($so) = $info =~ /slave0:.*offset=(\d+)/;
            last if defined $so && $so == $mo;
            sleep 0.05;
        }
    }

    my $key = 'tc:u:{' . tag_of('user2') . '}user2';
    my $victim = cluster_master_of($c, $key);
    ok($victim, "user2's slot is on $victim");
    cluster_kill($c, $victim);
    my $t0 = time;
    my ($o, $r) = ctl('show', $cookie{user2});
    my $dt = time - $t0;
    is($r, 0, 'the session is found on the promoted replica')
        or diag $o;
    ok($dt < 5, sprintf 'followed within 5 s (%.2f s)', $dt);
    ok(cluster_wait_ok($c, 20), 'cluster ok again');

    my $lost = 0;
    for my $u (sort keys %cookie) {
        next if $u eq 'user5';
        my (undef, $x) = ctl('show', $cookie{$u});
        $lost++ if $x != 0;
    }
    is($lost, 0, 'no session lost in the failover');
    my $new = cluster_master_of($c, $key);
    isnt($new, $victim, "a replica ($new) took over");
}

# --- reshard under load ---------------------------------------------------

{
    my @m = cluster_masters($c);
    my %id;
    for (split /\n/, cluster_cli($m[0], 'CLUSTER', 'NODES')) {
        my @f = split / /;
        $id{$1} = $f[0] if $f[1] =~ /:(\d+)@/;
    }
    # move 3000 slots from the master with the most sessions' slots
    my ($from, $to) = @m[0, 1];
    my $pid = fork // die;
    if ($pid == 0) {
        my $o = `redis-cli --cluster reshard 127.0.0.1:$from --cluster-from $id{$from} --cluster-to $id{$to} --cluster-slots 3000 --cluster-yes 2>&1`;
        # no END blocks in the child: they would stop the cluster
        POSIX::_exit($? >> 8);
    }
    my ($checks, $refused) = (0, 0);
    my @users = grep { $_ ne 'user5' } sort keys %cookie;
    while (waitpid($pid, 1) == 0) {
        for my $u (@users) {
            my (undef, $x) = ctl('show', $cookie{$u});
            $checks++;
            $refused++ if $x != 0;
        }
    }
    is($? >> 8, 0, 'redis-cli --cluster reshard of 3000 slots');
    ok($checks > 0, "$checks lookups during the reshard");
    is($refused, 0, 'no valid session refused during the reshard');
    for my $u (@users) {
        my (undef, $x) = ctl('show', $cookie{$u});
        $refused++ if $x != 0;
    }
    is($refused, 0, 'every session found after the reshard');
}

done_testing();
