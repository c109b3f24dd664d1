# Redis Cluster, the registry's scripts and sessionctl migrate, on a real
# 3-master, 3-replica cluster (t/lib/RedisCluster.pm).
#
#  - SS_CLUSTER_SCRIPT_CREATE stores the metadata and applies
#    session_limit (evict and refuse) on the subject's slot, with a far
#    (migrated) index member counted, evicted first and reported;
#    SS_CLUSTER_SCRIPT_REVOKE_ID and SS_CLUSTER_SCRIPT_LIST, near and far;
#    each run with EVAL and its keys on their slot, as the module sends
#    them: no CROSSSLOT, no "non local key" error.
#  - sessionctl migrate from a single redis-server into the cluster
#    (--dry-run first), then show, list, revoke, revoke --id and
#    revoke-all of the migrated sessions through sessionctl on the
#    cluster; a second run changes nothing; replay keys are copied.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use RedisCluster;
use Time::HiRes qw(time sleep);

my $keys = test_keys_dir();
my $c = cluster_start(masters => 3, replicas => 1);
my @ports = @{$c->{ports}};
my $seeds = join ',', map { "127.0.0.1:$_" } @ports[0, 1];

sub ctl { sessionctl('--keys', "$keys/ring1.keys", '--redis',
                     "cluster=$seeds", '--prefix', 'tk:', @_) }
sub cli { my $o = cluster_eval_cmd(@_); return $o }
sub cluster_eval_cmd {
    my $q = join ' ', map { my $v = $_; $v =~ s/'/'\\''/g; "'$v'" } @_;
    my $out = `redis-cli -c -h 127.0.0.1 -p $ports[0] $q 2>&1`;
    chomp $out;
    return $out;
}

my %S = cluster_scripts("$FindBin::Bin/../src/session_store.h",
                        qr/^SS_CLUSTER_SCRIPT_/);
ok($S{$_}, "$_ extracted")
    for qw(SS_CLUSTER_SCRIPT_CREATE SS_CLUSTER_SCRIPT_REVOKE
           SS_CLUSTER_SCRIPT_REVOKE_ID SS_CLUSTER_SCRIPT_LIST);

sub ev { my ($name, @rest) = @_; cluster_eval($c, $S{$name}, @rest) }

# a subject's tag: the first 4 digits of a session sessionctl creates
sub tag_of {
    my ($s) = @_;
    my ($ck) = ctl('create', $s);
    my ($j) = ctl('--json', 'list', $s);
    my ($h) = $j =~ /"hash":"([0-9a-f]{64})"/;
    ctl('revoke-all', $s);
    return substr($h // '', 0, 4);
}

# the tag of a subject's index key on the cluster, if it exists
sub tag_of_idx {
    my ($s) = @_;
    for my $m (cluster_masters($c)) {
        for (split /\n/, cluster_cli($m, '--scan', '--pattern', "tk:u:*}$s")) {
            return $1 if /\{(....)\}/;
        }
    }
    return '';
}

sub sk { "tk:s:{" . substr($_[0], 0, 4) . "}$_[0]" }

# a 64-digit id of tag t
my $n = 0;
sub id { my ($t) = @_; $t . sprintf('%060x', ++$n) }

# an id whose tag is not t: a record "far" from t's slot
sub far_id {
    my ($t) = @_;
    my $f = $t eq 'f00d' ? 'f00e' : 'f00d';
    return $f . sprintf('%060x', ++$n);
}

my $now = int time;

# SS_SCRIPT_CREATE's ARGV: subject now abs idle claims hash prefix old
# sealed grace pid ip ua via max over
sub create {
    my ($sub, $tag, $id, %o) = @_;
    return ev('SS_CLUSTER_SCRIPT_CREATE', [sk($id), "tk:u:{$tag}$sub"],
              $sub, $o{now} // $now, $now + 3600, 600, 'n=1', $id, 'tk:',
              $o{old} // '', 'sealed', 30, $o{pid} // substr($id, -16),
              '198.51.100.7', 'Mozilla/5.0 (X11; it\'s)', 'login',
              $o{max} // 0, $o{over} // 'evict');
}

# --- create: metadata ---------------------------------------------------

my $t = tag_of('alice');
like($t, qr/^[0-9a-f]{4}$/, "alice's tag is $t");
my $ix = "tk:u:{$t}alice";

my $a1 = id($t);
is(create('alice', $t, $a1), "1\n0", 'cluster create: { 1, retire 0 }');
my %h = split /\n/, cli('HGETALL', sk($a1)), -1;
is($h{sub}, 'alice', 'subject stored');
is($h{pid}, substr($a1, -16), 'public id stored');
is($h{ip}, '198.51.100.7', 'client address stored');
is($h{ua}, "Mozilla/5.0 (X11; it's)", 'User-Agent stored');
is($h{via}, 'login', 'via stored');
is($h{cl}, 'n=1', 'claims stored');
is(cli('SISMEMBER', $ix, $a1), '1', 'indexed');

# --- session_limit on the subject's slot ---------------------------------

my $a2 = id($t);
is(create('alice', $t, $a2, now => $now + 1, max => 3), "1\n0",
   'limit 3, two sessions: created');
my $a3 = id($t);
is(create('alice', $t, $a3, now => $now + 2, max => 2, over => 'refuse'),
   "0\n0", 'limit 2 over=refuse: refused');
is(cli('EXISTS', sk($a3)), '0', 'refused: nothing written');
is(create('alice', $t, $a3, now => $now + 2, max => 2), "2\n0",
   'limit 2 over=evict: created, one evicted');
is(cli('EXISTS', sk($a1)), '0', 'the least recently seen one is gone');
is(cli('SISMEMBER', $ix, $a1), '0', 'and out of the index');
is(cli('EXISTS', sk($a2)), '1', 'the other stays');

# a far member: a session migrated from a single Redis, on another slot
my $f1 = far_id($t);
cli('HSET', sk($f1), 'sub', 'alice', 'cre', $now - 100, 'last', $now - 50,
    'pid', 'feedfeedfeedfeed');
cli('SADD', $ix, $f1);
isnt(cli('CLUSTER', 'KEYSLOT', sk($f1)), cli('CLUSTER', 'KEYSLOT', $ix),
     'the far record is on another slot than the index');
my $a4 = id($t);
is(create('alice', $t, $a4, now => $now + 3, max => 3, over => 'refuse'),
   "0\n0\n$f1", 'refuse: the far member counted and reported');
is(create('alice', $t, $a4, now => $now + 3, max => 3), "2\n0\n$f1",
   'evict: the far member evicted first and reported to the caller');
is(cli('SISMEMBER', $ix, $f1), '0', 'the far member left the index');
is(cli('EXISTS', sk($a2)), '1', 'no near session evicted');
is(ev('SS_CLUSTER_SCRIPT_REVOKE', [sk($f1)], 'tk:', substr($f1, 0, 4),
      $f1), '1', 'the caller ends it on its slot');

# a renewal over a session of another tag: retire is left to the caller
my $mt = tag_of('mallory');
my $m1 = id($mt);
is(create('mallory', $mt, $m1, old => $a4), "1\n1",
   'renewing a session of another tag: { 1, retire 1 }');
is(cli('EXISTS', sk($a4)), '1', 'the other slot is not touched');

# --- list ----------------------------------------------------------------

my $f2 = far_id($t);
cli('HSET', sk($f2), 'sub', 'alice', 'cre', $now - 10, 'pid',
    'beefbeefbeefbeef');
cli('SADD', $ix, $f2);
my $l = ev('SS_CLUSTER_SCRIPT_LIST', [$ix], 'tk:', $a3, $t);
my @l = split /\n/, $l, -1;
is(scalar @l, 3 * 8 + 1, 'list: 3 near sessions of 8 fields, 1 far id')
    or diag $l;
is($l[7], $a4, 'newest first');
is($l[6 + 8], '1', 'the caller\'s session is marked current');
is($l[2], substr($a4, -16), 'public id');
is($l[-1], $f2, 'the far member reported, not read');

# --- revoke by public id --------------------------------------------------

is(ev('SS_CLUSTER_SCRIPT_REVOKE_ID', [$ix], 'tk:', $t, substr($a2, -16)),
   $a2, 'revoke-id of a near session: its hash');
is(cli('EXISTS', sk($a2)), '0', 'ended');
is(ev('SS_CLUSTER_SCRIPT_REVOKE_ID', [$ix], 'tk:', $t, 'beefbeefbeefbeef'),
   "\n$f2", 'revoke-id, not on this slot: the far members');
is(ev('SS_CLUSTER_SCRIPT_REVOKE', [sk($f2)], 'tk:', substr($f2, 0, 4), $f2,
      '0123456789abcdef'), '0', 'revoke with another public id: refused');
is(cli('EXISTS', sk($f2)), '1', 'still there');
is(ev('SS_CLUSTER_SCRIPT_REVOKE', [sk($f2)], 'tk:', substr($f2, 0, 4), $f2,
      'beefbeefbeefbeef'), '1', 'revoke with its public id: ended');

# EVALSHA, as the module sends it once the script is loaded on the masters
{
    my $sha;
    for my $m (cluster_masters($c)) {
        my $q = $S{SS_CLUSTER_SCRIPT_CREATE};
        $q =~ s/'/'\\''/g;
        $sha = `redis-cli -p $m SCRIPT LOAD '$q'`;
        chomp $sha;
    }
    like($sha, qr/^[0-9a-f]{40}$/, 'SCRIPT LOAD on every master');
    my $e1 = id($t);
    is(cli('EVALSHA', $sha, 2, sk($e1), $ix, 'alice', $now, $now + 3600,
           600, '', $e1, 'tk:', '', '', '', substr($e1, -16), '', '', 'login',
           0, 'evict'),
       "1\n0", 'EVALSHA of the cluster create, keys on their slot');
    is(cli('HGET', sk($e1), 'via'), 'login', 'written');
}

# nothing above was refused by the cluster
unlike(join('', map { ev($_, [$ix], 'tk:', $t, 'x') }
                qw(SS_CLUSTER_SCRIPT_REVOKE_ID SS_CLUSTER_SCRIPT_LIST)),
       qr/CROSSSLOT|non local|ERR/, 'no cross-slot error');

# --- sessionctl revoke --id on the cluster (a session created there) ------

{
    my ($j, $rc) = ctl('--json', 'create', 'frank');
    my ($id) = $j =~ /"id":"([0-9a-f]{16})"/;
    my ($cookie) = $j =~ /"cookie":"([^"]+)"/;
    my ($o) = ctl('--json', 'list', 'frank');
    like($o, qr/"id":"$id","via":"sessionctl"/,
         'create on the cluster stores the metadata');
    ($o, $rc) = ctl('revoke', 'frank', '--id', $id);
    is($rc, 0, 'revoke --id on the cluster') or diag $o;
    (undef, $rc) = ctl('show', $cookie);
    is($rc, 3, 'the session is gone');
    (undef, $rc) = ctl('revoke', 'frank', '--id', $id);
    is($rc, 3, 'revoke --id again: not found');
}

# --- sessionctl migrate ---------------------------------------------------

my $r = redis_start();
sub sctl1 { sessionctl('--keys', "$keys/ring1.keys", '--redis',
                       "127.0.0.1:$r->{port}", '--prefix', 'tk:', @_) }
sub mig { sessionctl('--redis', "127.0.0.1:$r->{port}", @_) }

my (%ck, %pid);
for my $u (qw(bob bob carol dave)) {
    my ($j, $rc) = sctl1('--json', 'create', $u, "who=$u", '--idle', '1h');
    is($rc, 0, "single Redis: create $u");
    my ($cookie) = $j =~ /"cookie":"([^"]+)"/;
    my ($id) = $j =~ /"id":"([0-9a-f]{16})"/;
    push @{$ck{$u}}, $cookie;
    push @{$pid{$u}}, $id;
}
redis_cli($r, 'SET', 'tk:r:github:abc', '1', 'EX', '500');
redis_cli($r, 'SET', 'other:s:' . ('a' x 64), 'x');

my ($out, $rc) = sessionctl('migrate', '--from', "127.0.0.1:$r->{port}");
is($rc, 1, 'migrate without --to: usage error');
($out, $rc) = sessionctl('migrate', '--from', "127.0.0.1:$r->{port}",
                         '--to', "127.0.0.1:$r->{port}");
is($rc, 1, 'migrate --to a single Redis: usage error');

my @mk = map { cluster_cli($_, 'DBSIZE') } cluster_masters($c);
($out, $rc) = sessionctl('--prefix', 'tk:', '--json', 'migrate', '--from',
                         "127.0.0.1:$r->{port}", '--to', "cluster=$seeds",
                         '--dry-run');
is($rc, 0, 'migrate --dry-run') or diag $out;
like($out, qr/"dry_run":true,"sessions":4,"copied":4,"replaced":0,"present":0,"indexed":4/,
     'dry run: four sessions would be copied and indexed');
like($out, qr/"replay_copied":1/, 'dry run: one replay key');
is_deeply([map { cluster_cli($_, 'DBSIZE') } cluster_masters($c)], \@mk,
          'dry run: nothing written');

($out, $rc) = sessionctl('--prefix', 'tk:', 'migrate', '--from',
                         "127.0.0.1:$r->{port}", '--to', "cluster=$seeds");
is($rc, 0, 'migrate') or diag $out;
like($out, qr/^4 sessions: 4 copied, 0 replaced .*, 0 already there, 4 index entries added/,
     'migrate: counts') or diag $out;
like($out, qr/1 replay keys copied/, 'migrate: the replay key');
unlike($out, qr/[0-9a-f]{32}/, 'no hash or secret printed');
is(cli('GET', 'tk:r:github:abc'), '1', 'the replay key is on the cluster');
my $rt = cli('TTL', 'tk:r:github:abc');
ok($rt > 490 && $rt <= 500, "with its TTL ($rt)");

my ($bh) = grep { length } split /\n/, redis_cli($r, 'SMEMBERS', 'tk:u:bob');
my $src_ttl = redis_cli($r, 'TTL', "tk:s:$bh");
my $dst_ttl = cli('TTL', sk($bh));
ok(abs($src_ttl - $dst_ttl) <= 2 && $dst_ttl > 3500,
   "the record keeps its remaining TTL ($src_ttl, $dst_ttl)");
is(cli('HGET', sk($bh), 'cl'), 'who=bob', 'the record is copied whole');

# a second run changes nothing
# the record's fields, sorted (DUMP's bytes follow a hashtable's order,
# which Redis's rehashing changes without a write)
sub fields_of {
    my %h = split /\n/, cli('HGETALL', $_[0]), -1;
    return join "\n", map { "$_=$h{$_}" } sort keys %h;
}
my %before = map { ($_ => fields_of($_)) } sk($bh);
($out, $rc) = sessionctl('--prefix', 'tk:', 'migrate', '--from',
                         "127.0.0.1:$r->{port}", '--to', "cluster=$seeds");
is($rc, 0, 'migrate again');
like($out, qr/^4 sessions: 0 copied, 0 replaced .*, 4 already there, 0 index entries added/,
     'the second run changes nothing') or diag $out;
like($out, qr/0 replay keys copied, 1 already there/, 'replay key: there');
is(fields_of(sk($bh)), $before{sk($bh)}, 'the record is unchanged');

# touched at the source after the copy (edges not switched yet): replaced
redis_cli($r, 'HSET', "tk:s:$bh", 'last', $now + 100);
($out) = sessionctl('--prefix', 'tk:', 'migrate', '--from',
                    "127.0.0.1:$r->{port}", '--to', "cluster=$seeds");
like($out, qr/0 copied, 1 replaced/, 'a record seen later at the source '
     . 'is copied again') or diag $out;
is(cli('HGET', sk($bh), 'last'), $now + 100, 'with its new last-seen');

# --- the migrated sessions through sessionctl on the cluster --------------

for my $u (qw(bob carol dave)) {
    ($out, $rc) = ctl('show', $ck{$u}[0]);
    is($rc, 0, "show finds $u\'s migrated session") or diag $out;
    like($out, qr/subject:\s+\Q$u\E/, "show: $u");
}
($out) = ctl('--json', 'show', $ck{dave}[0]);
my ($dref) = $out =~ /"ref":"([0-9a-f]{16})"/;
my ($dl) = ctl('--json', 'list', 'dave');
like($dl, qr/"ref":"$dref"/, 'show of a migrated session: its ref is the '
     . 'one list shows') or diag "$out\n$dl";
($out, $rc) = ctl('--json', 'list', 'bob');
is($rc, 0, 'list bob');
is(scalar(() = $out =~ /"ref"/g), 2, 'list: both migrated sessions')
    or diag $out;
like($out, qr/"ttl":3[0-9]{3}/, 'list: their TTL read on their slots');
like($out, qr/"id":"$pid{bob}[0]"/, 'list: the public id');

($out, $rc) = ctl('revoke', 'bob', '--id', $pid{bob}[1]);
is($rc, 0, 'revoke --id of a migrated session') or diag $out;
(undef, $rc) = ctl('show', $ck{bob}[1]);
is($rc, 3, 'it is gone');
(undef, $rc) = ctl('show', $ck{bob}[0]);
is($rc, 0, 'the other one lives');
(undef, $rc) = ctl('revoke', 'bob', '--id', $pid{bob}[1]);
is($rc, 3, 'revoke --id again: not found');
(undef, $rc) = ctl('revoke', 'bob', '--id', $pid{carol}[0]);
is($rc, 3, 'revoke --id of another subject\'s session: not found');

($out, $rc) = ctl('revoke', $ck{carol}[0]);
is($rc, 0, 'revoke COOKIE of a migrated session') or diag $out;
(undef, $rc) = ctl('show', $ck{carol}[0]);
is($rc, 3, 'gone');

# a renewal chain made at the source, migrated: revoking the old cookie
# on the cluster follows the chain to the live session on another slot
{
    my @s1 = ('--keys', "$keys/ring1.keys", '--redis',
              "127.0.0.1:$r->{port}", '--prefix', 'tg:');
    my @c1 = ('--keys', "$keys/ring1.keys", '--redis', "cluster=$seeds",
              '--prefix', 'tg:');
    my ($jo) = sessionctl(@s1, '--json', 'create', 'gina');
    my ($jn) = sessionctl(@s1, '--json', 'create', 'gina');
    my ($old) = $jo =~ /"cookie":"([^"]+)"/;
    my ($new) = $jn =~ /"cookie":"([^"]+)"/;
    my @h = split /\n/, redis_cli($r, 'SMEMBERS', 'tg:u:gina');
    my ($ho) = grep { redis_cli($r, 'HGET', "tg:s:$_", 'pid')
                      eq ($jo =~ /"id":"(\w+)"/)[0] } @h;
    my ($hn) = grep { $_ ne $ho } @h;
    # what SS_SCRIPT_CREATE's renewal leaves: nx/nt on the old record,
    # the old hash out of the index
    redis_cli($r, 'HSET', "tg:s:$ho", 'nx', $hn, 'nt', 'sealed');
    redis_cli($r, 'SREM', 'tg:u:gina', $ho);
    ($out) = sessionctl('--prefix', 'tg:', '--json', 'migrate', '--from',
                        "127.0.0.1:$r->{port}", '--to', "cluster=$seeds");
    like($out, qr/"copied":2,.*"renewed":1,/, 'migrated: the renewed '
         . 'record is copied, not indexed') or diag $out;
    isnt(substr($ho, 0, 4), substr($hn, 0, 4),
         'the two records are on different tags');
    ($out, $rc) = sessionctl(@c1, 'revoke', $old);
    is($rc, 0, 'revoke of the old cookie ends the live session') or diag $out;
    (undef, $rc) = sessionctl(@c1, 'show', $new);
    is($rc, 3, 'the live session on the other slot is gone');
    is(cli('EXISTS', 'tg:s:{' . substr($ho, 0, 4) . "}$ho"), '0',
       'and the old record');
}

# a new session of bob on the cluster next to the migrated one
my ($nb) = ctl('create', 'bob');
($out) = ctl('--json', 'list', 'bob');
is(scalar(() = $out =~ /"ref"/g), 2, 'list: the migrated and the new one');
($out, $rc) = ctl('revoke-all', 'bob');
is($rc, 0, 'revoke-all');
is($out, '2', 'revoke-all ended the migrated and the new session');
(undef, $rc) = ctl('show', $_), is($rc, 3, 'ended') for $ck{bob}[0], $nb;
is(cli('SCARD', 'tk:u:{' . tag_of_idx('bob') . '}bob'), '0',
   'revoke-all emptied the index, migrated members included');
($out) = ctl('list', 'bob');
is($out, '', 'list after revoke-all: nothing');

# a stale far member (its record expired) is pruned by list
cli('DEL', sk((grep { length } split /\n/,
               redis_cli($r, 'SMEMBERS', 'tk:u:dave'))[0]));
($out, $rc) = ctl('--json', 'list', 'dave');
like($out, qr/"sessions":\[\],"pruned":1/, 'list prunes a gone far member')
    or diag $out;

# resumable: --cursor goes on from a SCAN cursor; a run that stops names it
{
    redis_cli($r, "EVAL", q{
        for i = 1, 1200 do
          local h = string.format("%064x", i)
          redis.call("HSET", "tm:s:" .. h, "sub", "u" .. (i % 7), "last",
                     "1", "abs", ARGV[1])
          redis.call("EXPIRE", "tm:s:" .. h, 3600)
        end
        return 1
    }, 0, $now + 3600);
    my $scan = redis_cli($r, 'SCAN', 0, 'MATCH', 'tm:*', 'COUNT', 500);
    my ($cur) = split /\n/, $scan;
    ok($cur > 0, "a SCAN cursor after the first batch ($cur)");
    my @m = (migrate => '--from', "127.0.0.1:$r->{port}", '--to',
             "cluster=$seeds");
    ($out, $rc) = sessionctl('--prefix', 'tm:', '--json', @m, '--cursor',
                             $cur);
    is($rc, 0, 'migrate --cursor') or diag $out;
    my ($done1) = $out =~ /"copied":(\d+)/;
    ok($done1 > 0 && $done1 < 1200,
       "from the cursor on: $done1 of 1200 sessions");
    ($out, $rc) = sessionctl('--prefix', 'tm:', '--json', @m);
    my ($done2) = $out =~ /"copied":(\d+)/;
    is($done1 + $done2, 1200, 'then from the start: the rest, the others '
       . 'already there');

    redis_cli($r, 'SET', 'tm:s:' . ('e' x 64), 'not a hash');
    ($out, $rc) = sessionctl('--prefix', 'tm:', @m, '--cursor', 0);
    is($rc, 2, 'a run that fails exits 2');
    my $bin = $ENV{TEST_NGINX_SESSIONCTL}
              || "$FindBin::Bin/../build/sessionctl";
    like(`$bin --prefix tm: @m 2>&1 >/dev/null`,
         qr/WRONGTYPE.*\n.*migrate stopped at SCAN cursor \d+: run it again with --cursor \d+ to go on/,
         'and names the cursor to go on from');
    (undef, $rc) = sessionctl('migrate', '--from', "127.0.0.1:$r->{port}",
                              '--to', "cluster=$seeds", '--cursor', 'x1');
    is($rc, 1, '--cursor must be a number');
}

# --db applies to the source (a cluster has database 0 only)
{
    my ($ck3) = sessionctl('--keys', "$keys/ring1.keys", '--redis',
                           "127.0.0.1:$r->{port}", '--db', 3, '--prefix',
                           'tk:', 'create', 'erin');
    ($out, $rc) = sessionctl('--prefix', 'tk:', '--db', 3, '--json',
                             'migrate', '--from', "127.0.0.1:$r->{port}",
                             '--to', "cluster=$seeds");
    is($rc, 0, 'migrate --db 3') or diag $out;
    like($out, qr/"sessions":1,"copied":1,/, 'the session of database 3');
    (undef, $rc) = ctl('show', $ck3);
    is($rc, 0, 'found on the cluster');
}

done_testing();
