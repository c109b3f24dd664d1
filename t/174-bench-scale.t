# scripts/bench-scale, run tiny: tools/bench_seed.c writes sessions that
# the module's own tools find (sessionctl show: subject, claims, TTL),
# on a single Redis and, in the Cluster layout, on a real cluster (each
# key piped to its slot's master); then the whole script with 300
# sessions and 1 s runs prints its table (bare, module and auth_request
# measured, memory and CPU figures present) and answers every module
# request 2xx.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use RedisCluster;
use File::Temp qw(tempdir);

my $root = "$FindBin::Bin/..";
my $keys = test_keys_dir() . '/ring1.keys';
my $tmp = tempdir(CLEANUP => 1);
my $seed = "$root/build/bench_seed";

system('cc', '-O2', '-Wall', '-Wextra', '-Werror', "-I$root/src", '-o',
       $seed, "$root/tools/bench_seed.c",
       map({ "$root/src/$_" } qw(session_util.c session_keyring.c
           session_cookie.c session_claims.c session_slot.c
           session_record.c)),
       '-lsodium') == 0 or BAIL_OUT('cannot build bench_seed');

# --- single Redis ---
my $r = redis_start();
is(system("$seed $keys 50 bs: $tmp/c1 > $tmp/r1"), 0, 'seed 50');
my $pipe = `redis-cli -p $r->{port} --pipe < $tmp/r1 2>&1`;
like($pipe, qr/errors: 0, replies: 200/, 'piped, no error');
open my $fh, '<', "$tmp/c1" or die;
my @c = map { chomp; $_ } <$fh>;
is(scalar @c, 50, '50 cookies');
my ($out, $rc) = sessionctl('--keys', $keys, '--redis',
                            "127.0.0.1:$r->{port}", '--prefix', 'bs:',
                            'show', $c[7]);
is($rc, 0, 'sessionctl finds a seeded session') or diag $out;
like($out, qr/subject:\s+user7\n/, 'its subject');
like($out, qr/claims:\s+role=member; name=User%207; email=user7%40/,
     'its claims');
like($out, qr/ttl:\s+86\d\d\d/, 'its TTL');
is(redis_cli($r, 'SMEMBERS', 'bs:u:user7') =~ /^[0-9a-f]{64}$/ ? 1 : 0, 1,
   'indexed');

# claims padded to a size
is(system("BENCH_SEED_CLAIM_BYTES=500 $seed $keys 3 bp: $tmp/c3 > $tmp/r3"),
   0, 'seed with 500-byte claims');
`redis-cli -p $r->{port} --pipe < $tmp/r3`;
my ($ph) = split /\n/, redis_cli($r, 'SMEMBERS', 'bp:u:user1');
is(length(redis_cli($r, 'HGET', "bp:s:$ph", 'cl')), 500,
   'the claims are 500 bytes');
open $fh, '<', "$tmp/c3" or die;
my @c3 = map { chomp; $_ } <$fh>;
($out, $rc) = sessionctl('--keys', $keys, '--redis', "127.0.0.1:$r->{port}",
                         '--prefix', 'bp:', '--json', 'show', $c3[1]);
like($out, qr/"pad":"x{400,}"/, 'and valid claims (a "pad" claim)');

# --- cluster layout ---
my $cl = cluster_start(masters => 3, replicas => 0);
my @m = cluster_masters($cl);
open my $mf, '>', "$tmp/slots" or die;
for (split /\n/, cluster_cli($m[0], 'CLUSTER', 'NODES')) {
    my @f = split / /;
    my ($p) = $f[1] =~ /:(\d+)@/;
    for my $range (@f[8 .. $#f]) {
        my ($a, $b) = split /-/, $range;
        print $mf "$a ", $b // $a, " $p\n";
    }
}
close $mf;
mkdir "$tmp/resp";
is(system("$seed $keys 60 bs: $tmp/c2 $tmp/slots $tmp/resp"), 0,
   'seed 60 in the Cluster layout');
my $keys_n = 0;
for my $p (@m) {
    my $o = `redis-cli -p $p --pipe < $tmp/resp/$p 2>&1`;
    like($o, qr/errors: 0,/, "piped to master $p without a MOVED");
    $keys_n += cluster_cli($p, 'DBSIZE');
}
is($keys_n, 120, 'every record and index on the cluster');
open $fh, '<', "$tmp/c2" or die;
@c = map { chomp; $_ } <$fh>;
($out, $rc) = sessionctl('--keys', $keys, '--redis',
                         "cluster=127.0.0.1:$m[0]", '--prefix', 'bs:',
                         'show', $c[11]);
is($rc, 0, 'sessionctl finds a seeded cluster session') or diag $out;
like($out, qr/subject:\s+user11\n/, 'its subject');
($out, $rc) = sessionctl('--redis', "cluster=127.0.0.1:$m[0]", '--prefix',
                         'bs:', 'list', 'user11');
is(scalar(() = $out =~ /^[0-9a-f]{16}\s/mg), 1, 'listed from its index');

# --- the whole script, tiny (a load measurement: not under memcheck) ---
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    done_testing();
    exit 0;
}
$out = `$root/scripts/bench-scale --sessions 300 --duration 1 --rounds 1 --ring 3 2>&1`;
is($? >> 8, 0, 'scripts/bench-scale runs') or diag $out;
like($out, qr/^\| 300 \| \d+ \| \d+ \| \d+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \/ [\d.]+ \/ [\d.]+ \| \d+ \| [\d.]+ \|$/m,
     'its table: req/s of the three cases, ratios, p99, memory, CPU')
    or diag $out;
unlike($out, qr/WARNING/, 'every module request answered 2xx (cookies '
       . 'signed by the oldest key of a ring of 3)');
like($out, qr/key ring of 3 \(cookies signed by its last key\)/,
     'the conditions are printed with the table');

done_testing();
