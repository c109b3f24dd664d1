# session_redis cluster= through nginx (issue 13): a 3-master, 3-replica
# cluster of real redis-servers on loopback.  nginx -t refuses bad
# combinations; logins land on every master (records on their subject's
# slot, the Cluster layout); lookups, logout and logout-all are routed by
# slot; session_limit, session_list, session_revoke, replay keys and the
# legacy lookup work there; session_cache hears revocations published on
# any node; MOVED and
# ASK are followed; an unreachable slot owner gives 503 for its slots only;
# a SIGKILLed master is followed within 5 s with no session lost; a
# reshard of thousands of slots under load refuses no valid session.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use RedisCluster;
use Time::HiRes qw(time sleep);
use POSIX ();
use File::Temp ();
use Digest::SHA ();

my $keys = test_keys_dir();

# --- nginx -t --------------------------------------------------------------

sub conf_test {
    my ($line) = @_;
    my $root = File::Temp::tempdir(CLEANUP => 1);
    mkdir "$root/$_" for qw(conf logs);
    my $modules = join '', map { "load_module $_;\n" }
        split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    open my $fh, '>', "$root/conf/nginx.conf" or die;
    print $fh "${modules}error_log $root/logs/error.log;\n"
        . "events {}\nhttp {\n    session_keys $keys/ring1.keys;\n"
        . "    $line\n    server { listen 127.0.0.1:1; }\n}\n";
    close $fh;
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $out = `$bin -t -p $root -c $root/conf/nginx.conf 2>&1`;
    return ($? >> 8, $out);
}

{
    my ($rc, $out) = conf_test('session_redis cluster=127.0.0.1:7000,'
                               . '127.0.0.1:7001 prefix=x:;');
    is($rc, 0, 'nginx -t: cluster= accepted') or diag $out;

    ($rc, $out) = conf_test('session_redis cluster=127.0.0.1:7000,legacy;');
    is($rc, 0, 'nginx -t: cluster=...,legacy accepted') or diag $out;

    for my $bad (['session_redis 127.0.0.1:6379 cluster=127.0.0.1:7000;',
                  qr/"cluster=" cannot be combined with an address/],
                 ['session_redis cluster=127.0.0.1:7000 127.0.0.1:6379;',
                  qr/"cluster=" cannot be combined with an address/],
                 ['session_redis cluster=127.0.0.1:7000 '
                  . 'sentinel=127.0.0.1:1 master=m;',
                  qr/"cluster=" cannot be combined/],
                 ['session_redis sentinel=127.0.0.1:1 master=m '
                  . 'cluster=127.0.0.1:7000;',
                  qr/"cluster=" cannot be combined/],
                 ['session_redis cluster=127.0.0.1;',
                  qr/invalid "session_redis" cluster node "127.0.0.1"/],
                 ['session_redis cluster=;', qr/no cluster node/],
                 ['session_redis cluster=127.0.0.1:7000,,127.0.0.1:x;',
                  qr/invalid "session_redis" cluster node/],
                 ['session_redis cluster=127.0.0.1:7000 db=1;',
                  qr/"db=" cannot be used with "cluster="/],
                 ['session_redis cluster=127.0.0.1:7000 prefix='
                  . ('p' x 125) . ';', qr/the prefix is at most 122/])
    {
        ($rc, $out) = conf_test($bad->[0]);
        isnt($rc, 0, "nginx -t refuses: $bad->[0]");
        like($out, $bad->[1], '... saying why');
        like($out, qr/nginx\.conf:\d+/, '... with file:line');
    }
}

# --- a cluster and an nginx in front of it --------------------------------

my $secret_dir = File::Temp::tempdir(CLEANUP => 1);
chmod 0755, $secret_dir;
{
    open my $f, '>', "$secret_dir/gh.secret" or die;
    print $f "cluster webhook secret\n";
    close $f;
    chmod 0600, "$secret_dir/gh.secret";
}

my $c = cluster_start(masters => 3, replicas => 1);
my @ports = @{$c->{ports}};
my $seeds = join ',', map { "127.0.0.1:$_" } @ports[0, 1];

sub edge {
    my (%o) = @_;
    return nginx_start(workers => $o{workers} // 2, http => <<"HTTP");
    session_keys $keys/ring1.keys;
    session_redis cluster=$seeds${\ ($o{legacy} ? ',legacy' : '')} prefix=tn: timeout=${\ ($o{timeout} // (SessionTest::valgrind() ? '3s' : '500ms'))}${\ (SessionTest::valgrind() ? ' connect_timeout=10s' : '')};
    session_cookie sid secure=off;
    ${\ ($o{cache} ? 'session_cache zone=sess:1m valid=60s;' : '')}

    server {
        listen 127.0.0.1:\$PORT;
        location = /login {
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /login-limit {
            session_issue on;
            session_limit max=2;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /login-refuse {
            session_issue on;
            session_limit max=2 over=refuse;
            proxy_pass http://127.0.0.1:\$PORT/backend/login\$is_args\$args;
        }
        location = /backend/login {
            add_header X-Session-Subject \$arg_user;
            add_header X-Session-Claims "n=\$arg_user";
            return 302 /p;
        }
        location /p {
            session_required on;
            proxy_set_header X-User-Id \$session_user;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /gh/x {
            session_signature github secret_file=$secret_dir/gh.secret
                              tolerance=60s;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /tg {
            session_telegram bot_token_file=$FindBin::Bin/secrets/bot.token
                             max_age=30y login=on;
            session_issue on;
            proxy_pass http://127.0.0.1:\$PORT/echo;
        }
        location = /sessions { session_list; }
        location = /sessions/revoke { session_revoke; }
        location = /logout { session_logout; }
        location = /logout-all { session_logout all; }
        location = /echo { return 200 "user=[\$http_x_user_id]\\n"; }
    }
HTTP
}

sub get { http_request($_[0]{port}, "GET $_[1]",
                       $_[2] ? { Cookie => "sid=$_[2]" } : {}) }

sub login {
    my ($edge, $user) = @_;
    my $r = get($edge, "/login?user=$user");
    my $ck = set_cookie($r, 'sid');
    diag("login $user: $r->{status}\n"
         . join("\n", (split /\n/, SessionTest::error_log($edge))[-6 .. -1]))
        unless $ck;
    return $ck;
}

sub all_keys {
    my @k;
    for my $m (cluster_masters($c)) {
        push @k, map { [$m, $_] } grep { /^tn:/ } split /\n/,
            cluster_cli($m, '--scan', '--pattern', 'tn:*');
    }
    return @k;
}

my $n = edge(cache => 1);

my %cookie;
for my $i (1 .. 30) {
    my $ck = login($n, "user$i");
    ok($ck, "login user$i through nginx") or next;
    $cookie{"user$i"} = $ck;
}

{
    my @k = all_keys();
    my %on;
    $on{$_->[0]}++ for grep { $_->[1] =~ /^tn:s:/ } @k;
    is(scalar keys %on, 3, 'sessions created on all three masters')
        or diag explain \%on;
    my $bad = grep { $_->[1] =~ /^tn:s:/
                     && $_->[1] !~ /^tn:s:\{([0-9a-f]{4})\}\1[0-9a-f]{60}$/ }
              @k;
    is($bad, 0, 'every record key is s:{<tag>}<id>');
    my $idx = grep { $_->[1] =~ /^tn:u:\{[0-9a-f]{4}\}user\d+$/ } @k;
    is($idx, 30, 'every subject has its tagged index');
    # the record and its subject's index on one slot
    my %slot_of_idx;
    for (grep { $_->[1] =~ /^tn:u:/ } @k) {
        my ($t) = $_->[1] =~ /\{(....)\}/;
        $slot_of_idx{$t} = 1;
    }
    my $miss = grep { my ($t) = $_->[1] =~ /\{(....)\}/; !$slot_of_idx{$t} }
               grep { $_->[1] =~ /^tn:s:/ } @k;
    is($miss, 0, "each record shares its subject index's tag");
}

# a Telegram Mini App login (session_telegram login=on) on the cluster:
# subject tg:<id>, its record and index on the subject's tag
{
    my $init = 'user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22en%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%7D&chat_instance=-3788475317572404878&chat_type=private&auth_date=1709144340&hash=371697738012ebd26a111ace4aff23ee265596cd64026c8c3677956a85ca1827';
    my $r = http_request($n->{port}, 'GET /tg',
                         { Authorization => "tma $init" });
    my $ck = set_cookie($r, 'sid');
    ok($ck, "telegram login on the cluster ($r->{status})");
    my $p = get($n, '/p', $ck);
    is("$p->{status} $p->{body}", "200 user=[tg:279058397]\n",
       'telegram: the session is found through nginx');
    my @idx = grep { $_->[1] =~ /^tn:u:\{[0-9a-f]{4}\}tg:279058397$/ }
              all_keys();
    is(scalar @idx, 1, 'telegram: the subject has its tagged index');
    my ($t) = @idx ? $idx[0][1] =~ /\{(....)\}/ : ('none');
    my $rec = grep { $_->[1] =~ /^tn:s:\{$t\}/ } all_keys();
    ok($rec >= 1, 'telegram: the record on the subject\'s tag');
    my $lo = get($n, '/logout', $ck);
    ok($lo->{status} < 400, "telegram: logout ($lo->{status})");
    is(get($n, '/p', $ck)->{status}, 401, 'telegram: refused after logout');
}

my $bad = 0;
for my $u (sort keys %cookie) {
    my $r = get($n, '/p', $cookie{$u});
    $bad++ unless $r->{status} == 200 && $r->{body} eq "user=[$u]\n";
}
is($bad, 0, 'every session is found through nginx (lookups on every '
   . 'master)');

# sessionctl reads what nginx wrote (the same layout)
{
    my ($out, $rc) = sessionctl('--keys', "$keys/ring1.keys", '--redis',
                                "cluster=$seeds", '--prefix', 'tn:', 'show',
                                $cookie{user3});
    is($rc, 0, 'sessionctl show finds a session nginx created');
    like($out, qr/subject:\s+user3/, '... of user3');
}

# logout: refused at once, on every worker
{
    my $ck = $cookie{user4};
    get($n, '/p', $ck) for 1 .. 4;
    my $lo = get($n, '/logout', $ck);
    ok($lo->{status} < 400, "logout ($lo->{status})");
    my @st = map { get($n, '/p', $ck)->{status} } 1 .. 6;
    is_deeply(\@st, [(401) x 6], 'the logged out session is refused');
    delete $cookie{user4};
}

# logout-all: every session of the subject, on its slot
{
    my $c1 = login($n, 'multi');
    my $c2 = login($n, 'multi');
    my $c3 = login($n, 'multi');
    is(get($n, '/p', $_)->{status}, 200, 'a session of multi') for $c1, $c2,
        $c3;
    my $lo = get($n, '/logout-all', $c1);
    ok($lo->{status} < 400, "logout-all ($lo->{status})");
    sleep 0.2;   # the other workers' caches hear it through pub/sub
    is(get($n, '/p', $_)->{status}, 401, 'ended by logout-all')
        for $c1, $c2, $c3;
    is(scalar(grep { $_->[1] =~ /multi$/ } all_keys()), 0,
       'the index of multi is gone');
}

# a login over another subject's cookie: the old one is retired on its
# slot before the new cookie goes out
{
    my $old = login($n, 'victim');
    my $r = http_request($n->{port}, 'GET /login?user=attacker',
                         { Cookie => "sid=$old" });
    my $new = set_cookie($r, 'sid');
    ok($new, 'a login over another subject\'s session');
    is(get($n, '/p', $old)->{status}, 401, 'the planted cookie is dead');
    is(get($n, '/p', $new)->{body}, "user=[attacker]\n",
       'the new session is the new subject\'s');
}

# a login over the same subject's session: renewal (grace) on one slot
{
    my $old = login($n, 'renewer');
    my $r = http_request($n->{port}, 'GET /login?user=renewer',
                         { Cookie => "sid=$old" });
    my $new = set_cookie($r, 'sid');
    ok($new && $new ne $old, 'a login renewing the session');
    my $g = get($n, '/p', $old);
    is($g->{status}, 200, 'the old cookie is in its grace period');
    is(get($n, '/p', $new)->{status}, 200, 'the new one is valid');
}

# session_cache: a revocation published on whichever node reaches nginx
{
    my $ok = 0;
    for my $u (qw(user1 user2 user5 user6 user7 user8)) {
        my $ck = $cookie{$u};
        get($n, '/p', $ck) for 1 .. 4;   # cached on both workers
        my ($o, $rc) = sessionctl('--keys', "$keys/ring1.keys", '--redis',
                                  "cluster=$seeds", '--prefix', 'tn:',
                                  'revoke', $ck);
        next unless $rc == 0;
        sleep 0.2;
        my @st = map { get($n, '/p', $ck)->{status} } 1 .. 4;
        $ok++ if "@st" eq '401 401 401 401';
        delete $cookie{$u};
    }
    is($ok, 6, 'six sessions revoked by sessionctl on their own masters: '
       . 'the cache of every worker hears each at once');
}

# session_limit on the subject's slot (the cluster create script)
{
    my @c;
    for my $i (1 .. 3) {
        push @c, set_cookie(get($n, '/login-limit?user=limited'), 'sid');
        sleep 1.1;    # "last" is in seconds: the oldest is clear
    }
    is(get($n, '/p', $c[0])->{status}, 401,
       'session_limit max=2: the third login ends the oldest');
    is(get($n, '/p', $_)->{status}, 200, '... the other two live')
        for @c[1, 2];
    is(scalar(grep { $_->[1] =~ /^tn:u:\{....\}limited$/ } all_keys()), 1,
       '... one index');
    my ($idx) = map { $_ } grep { $_->[1] =~ /limited$/ } all_keys();
    is(cluster_cli($idx->[0], 'SCARD', $idx->[1]), 2, '... of two members');

    my @r = map { get($n, '/login-refuse?user=refused') } 1 .. 3;
    is(join(' ', map { $_->{status} } @r), '302 302 409',
       'session_limit over=refuse: the third login is 409');
}

# session_list and session_revoke on the subject's slot
{
    my @c = map { set_cookie(get($n, '/login?user=lister'), 'sid') } 1 .. 3;
    my $r = get($n, '/sessions', $c[0]);
    is($r->{status}, 200, 'session_list on the cluster');
    my @ids = $r->{body} =~ /"id":"([^"]+)"/g;
    is(scalar @ids, 3, '... lists the three sessions') or diag $r->{body};
    like($r->{body}, qr/"current":true/, '... the current one marked');
    # end another one by its public id
    my ($victim_id) = $r->{body}
        =~ /\{[^}]*"id":"([^"]+)"[^}]*"current":false[^}]*\}/;
    ok($victim_id, 'a session other than the current one');
    my $rv = http_request($n->{port}, 'POST /sessions/revoke',
                          { Cookie => "sid=$c[0]",
                            'Content-Type' =>
                                'application/x-www-form-urlencoded' },
                          "id=$victim_id");
    is($rv->{status}, 204, 'session_revoke of it on the cluster');
    $r = get($n, '/sessions', $c[0]);
    @ids = $r->{body} =~ /"id":"([^"]+)"/g;
    is(scalar @ids, 2, 'two left in the list');
    is(scalar(grep { get($n, '/p', $_)->{status} == 200 } @c), 2,
       'and one of the three cookies is refused');
    $rv = http_request($n->{port}, 'POST /sessions/revoke',
                       { Cookie => "sid=$c[0]",
                         'Content-Type' =>
                             'application/x-www-form-urlencoded' },
                       "id=$victim_id");
    is($rv->{status}, 404, 'the same id again: 404');
}

# replay keys of session_signature: one key per script, on its own slot
{
    my ($first, $replay) = (0, 0);
    for my $i (1 .. 12) {
        my $body = "{\"n\":$i}";
        my %h = ('X-GitHub-Delivery' => "cluster-delivery-$i",
                 'X-Hub-Signature-256' => 'sha256='
                     . Digest::SHA::hmac_sha256_hex($body,
                                                    'cluster webhook secret'));
        my $st = http_request($n->{port}, 'POST /gh/x', \%h, $body)
                 ->{status};
        diag "first delivery: $st" unless $st == 200;
        $first++ if $st == 200;
        $replay++ if http_request($n->{port}, 'POST /gh/x', \%h, $body)
                     ->{status} == 409;
    }
    is($first, 12, 'twelve signed deliveries accepted on the cluster');
    is($replay, 12, 'and each replay refused (409)');
    my %on;
    $on{$_->[0]}++ for grep { $_->[1] =~ /^tn:r:/ } all_keys();
    ok(keys(%on) >= 2, 'their replay keys spread over '
       . scalar(keys %on) . ' masters');
}

# --- MOVED and ASK ----------------------------------------------------------

# the slot of a session: its id's tag
sub slot_of_cookie {
    my ($ck) = @_;
    for (all_keys()) {
        next unless $_->[1] =~ /^tn:s:/;
    }
    return undef;
}

sub node_ids {
    my %id;
    for (split /\n/, cluster_cli((grep { !$c->{dead}{$_} } @ports)[0],
                                 'CLUSTER', 'NODES')) {
        my @f = split / /;
        $id{$1} = $f[0] if $f[1] =~ /:(\d+)@/;
    }
    return %id;
}

# a session key and its master, the session's cookie
sub session_of {
    my ($u) = @_;
    my $before = { map { $_->[1] => 1 } all_keys() };
    my $ck = login($n, $u);
    my ($k) = grep { !$before->{$_->[1]} && $_->[1] =~ /^tn:s:/ }
              all_keys();
    return ($ck, $k->[1], $k->[0]);
}

{
    # move one session's slot by hand, with the MIGRATING / IMPORTING
    # states in between: ASK while the key is still on the source... and
    # MOVED once the slot is the target's
    my ($ck, $key, $src) = session_of('mover');
    my $slot = cluster_cli($src, 'CLUSTER', 'KEYSLOT', $key);
    my ($dst) = grep { $_ != $src } cluster_masters($c);
    my %id = node_ids();
    is(get($n, '/p', $ck)->{status}, 200, 'mover is valid before');

    is(cluster_cli($dst, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING',
                   $id{$src}), 'OK', 'importing on the target');
    is(cluster_cli($src, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING',
                   $id{$dst}), 'OK', 'migrating on the source');
    # the key is moved: the source answers ASK for it
    is(cluster_cli($src, 'MIGRATE', '127.0.0.1', $dst, '', 0, 5000,
                   'KEYS', $key), 'OK', 'the record migrated');
    my $r = get($n, '/p', $ck);
    is($r->{status}, 200, 'found through ASK (+ ASKING) on the importing '
       . 'node') or diag explain $r;

    for my $p (@ports) {
        next if $c->{dead}{$p};
        cluster_cli($p, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $id{$dst});
    }
    $r = get($n, '/p', $ck);
    is($r->{status}, 200, 'found through MOVED once the slot is the '
       . 'target\'s');
    is(get($n, '/p', $ck)->{status}, 200, 'and again (the map learnt it)');
    my $lo = get($n, '/logout', $ck);
    ok($lo->{status} < 400, 'logout routed to the new owner');
    is(get($n, '/p', $ck)->{status}, 401, 'refused after');
    ok(SessionTest::error_log($n) !~ /\[(?:alert|crit|emerg)\]/,
       'no alert in the log');
}

# the master of each remaining session, by its record's key
sub owners {
    my %own;
    my %by_tag;
    for (all_keys()) {
        $by_tag{$1} = $_->[0] if $_->[1] =~ /^tn:s:\{(....)\}/;
    }
    for my $u (keys %cookie) {
        my ($o, $rc) = sessionctl('--keys', "$keys/ring1.keys", '--redis',
                                  "cluster=$seeds", '--prefix', 'tn:',
                                  'show', $cookie{$u});
        my ($id) = $o =~ /\b([0-9a-f]{4})[0-9a-f]{60}\b/;
        $own{$u} = $by_tag{$id} if $id;
    }
    return %own;
}

sub pid_of {
    my ($port) = @_;
    open my $fh, '<', "$c->{dir}/$port/redis.pid" or die;
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

sub replica_of {
    my ($master) = @_;
    my %id = node_ids();
    for (split /\n/, cluster_cli($master, 'CLUSTER', 'NODES')) {
        my @f = split / /;
        return $1 if $f[3] eq $id{$master} && $f[1] =~ /:(\d+)@/;
    }
    return undef;
}

# --- legacy: records migrated from a single Redis ---------------------------

{
    my $single = redis_start();
    my ($ck, $rc) = sessionctl('--keys', "$keys/ring1.keys", '--redis',
                               "127.0.0.1:$single->{port}", '--prefix', 'tn:',
                               'create', 'olduser');
    is($rc, 0, 'a session on a single Redis');
    my ($k) = grep { /^tn:s:/ } split /\n/,
        redis_cli($single, '--scan', '--pattern', 'tn:s:*');
    my ($h) = $k =~ /^tn:s:([0-9a-f]{64})$/;
    ok($h, 'its single-Redis record');
    # moved as "sessionctl migrate" does: s:{<hash[0..3]>}<hash>, its TTL
    my %f = split /\n/, redis_cli($single, 'HGETALL', $k), -1;
    my $ttl = redis_cli($single, 'TTL', $k);
    my $nk = 'tn:s:{' . substr($h, 0, 4) . "}$h";
    `redis-cli -c -p $ports[0] HSET '$nk' @{[ map { "'$_'" } %f ]}`;
    `redis-cli -c -p $ports[0] EXPIRE '$nk' $ttl`;

    my $nl = edge(legacy => 1, workers => 1);
    # a fresh worker under valgrind is slow to its first answers
    for (1 .. 50) {
        last if get($nl, '/p', $cookie{user9})->{status} == 200;
        sleep 0.2;
    }
    is(get($nl, '/p', $ck)->{body}, "user=[olduser]\n",
       'cluster=...,legacy: the migrated session is valid');
    is(get($n, '/p', $ck)->{status}, 401,
       'without legacy it is not found');
    is(get($nl, '/p', $cookie{user9})->{status}, 200,
       'with legacy, sessions of the Cluster layout still are found');
    my $lo = get($nl, '/logout', $ck);
    ok($lo->{status} < 400, "logout of the migrated session ($lo->{status})");
    is(get($nl, '/p', $ck)->{status}, 401, 'refused after');
    is(`redis-cli -c -p $ports[0] EXISTS '$nk'` + 0, 0, 'its record is gone');

    # A migrated session in its subject's index on the cluster (as
    # "sessionctl migrate" leaves it): the member is on the index's slot,
    # the record on its own ("far").  session_list lists it, session_revoke
    # ends it by its public id, a member whose record is gone is pruned.
    my ($ck2) = sessionctl('--keys', "$keys/ring1.keys", '--redis',
                           "127.0.0.1:$single->{port}", '--prefix', 'tn:',
                           'create', 'olduser');
    my ($k2) = grep { /^tn:s:/ && $_ ne $k } split /\n/,
        redis_cli($single, '--scan', '--pattern', 'tn:s:*');
    my ($h2) = $k2 =~ /^tn:s:([0-9a-f]{64})$/;
    my %f2 = split /\n/, redis_cli($single, 'HGETALL', $k2), -1;
    my $nk2 = 'tn:s:{' . substr($h2, 0, 4) . "}$h2";
    `redis-cli -c -p $ports[0] HSET '$nk2' @{[ map { "'$_'" } %f2 ]}`;
    `redis-cli -c -p $ports[0] EXPIRE '$nk2' 3600`;
    sleep 1.1;      # the cluster login below is the newer one
    my $fresh = set_cookie(get($nl, '/login?user=olduser'), 'sid');
    ok($fresh, 'a login of the same subject on the cluster');
    my ($ikey) = grep { /^tn:u:\{[0-9a-f]{4}\}olduser$/ }
        map { split /\n/, `redis-cli -p $_ --scan --pattern 'tn:u:*'` }
        @ports;
    ok($ikey, "the subject's index on the cluster ($ikey)");
    isnt(substr($ikey, 6, 4), substr($h2, 0, 4),
         '... on another slot than the migrated record');
    my $gone = 'e' x 64;
    `redis-cli -c -p $ports[0] SADD '$ikey' $h2 $gone`;

    my $r = get($nl, '/sessions', $fresh);
    is($r->{status}, 200, 'session_list with a far member: 200')
        or diag $r->{body};
    my @ids = $r->{body} =~ /"id":"([0-9a-f]+)"/g;
    is(scalar @ids, 2, '... two sessions: the far one is listed')
        or diag $r->{body};
    is($ids[1], $f2{pid}, '... the migrated one, older, second');
    like($r->{body}, qr/\{"id":"$f2{pid}","created":$f2{cre},[^}]*"current":false\}/,
         '... with its creation time, not current');
    is(scalar(() = $r->{body} =~ /"current":true/g), 1,
       '... the caller\'s own session marked current');
    is(`redis-cli -c -p $ports[0] SISMEMBER '$ikey' $gone` + 0, 0,
       'a member whose record is gone is pruned from the index');

    my $rv = http_request($nl->{port}, 'POST /sessions/revoke',
                          { Cookie => "sid=$fresh",
                            'Content-Type' =>
                                'application/x-www-form-urlencoded' },
                          "id=$f2{pid}");
    is($rv->{status}, 204, 'session_revoke of the far session by id: 204');
    is(get($nl, '/p', $ck2)->{status}, 401, '... its cookie is refused');
    is(`redis-cli -c -p $ports[0] EXISTS '$nk2'` + 0, 0,
       '... its record is gone');
    is(get($nl, '/p', $fresh)->{status}, 200, '... the caller\'s is not');
    $rv = http_request($nl->{port}, 'POST /sessions/revoke',
                       { Cookie => "sid=$fresh",
                         'Content-Type' =>
                             'application/x-www-form-urlencoded' },
                       "id=$f2{pid}");
    is($rv->{status}, 404, 'the same id again: 404');
    @ids = get($nl, '/sessions', $fresh)->{body} =~ /"id":"([0-9a-f]+)"/g;
    is(scalar @ids, 1, 'one session left in the list');
    nginx_stop($nl);
}

# --- an unreachable slot owner: 503 for its slots only ----------------------

# without session_cache: every request asks the cluster
my $n2 = edge();
$n = $n2;

{
    # no failover and no full coverage for this part: the owner just hangs
    my ($victim) = cluster_masters($c);
    my $replica = replica_of($victim);
    ok($replica, "$victim has a replica ($replica)");
    for my $p (@ports) {
        next if $c->{dead}{$p};
        cluster_cli($p, 'CONFIG', 'SET', 'cluster-require-full-coverage',
                    'no');
    }
    cluster_cli($replica, 'CONFIG', 'SET', 'cluster-replica-no-failover',
                'yes');

    my $own = { map { $_ => 1 } grep { 1 } () };
    my %tag_owner;
    for (all_keys()) {
        $tag_owner{$1} = $_->[0] if $_->[1] =~ /^tn:s:\{(....)\}/;
    }
    my (@on, @off);
    for my $u (sort keys %cookie) {
        my $r = get($n, '/p', $cookie{$u});
        next unless $r->{status} == 200;
        # which master: ask it directly
        my $found = 0;
        for (all_keys()) {
            next unless $_->[0] == $victim && $_->[1] =~ /^tn:u:\{....\}\Q$u\E$/;
            $found = 1;
        }
        push @{$found ? \@on : \@off}, $u;
    }
    ok(@on > 0 && @off > 0, scalar(@on) . ' sessions on the victim, '
       . scalar(@off) . ' elsewhere');

    kill 'STOP', pid_of($victim);
    my (%st, $retry_after);
    for my $round (1 .. 3) {
        for my $u (@on, @off) {
            my $r = get($n, '/p', $cookie{$u});
            $st{$u}{$r->{status}}++;
            $retry_after = $r->{headers}{'retry-after'}[0]
                if $r->{status} == 503;
        }
    }
    kill 'CONT', pid_of($victim);

    my $on503 = grep { ($st{$_}{503} // 0) == 3 } @on;
    my $off200 = grep { ($st{$_}{200} // 0) == 3 } @off;
    is($on503, scalar @on, 'every session on the hung master: 503');
    ok(defined $retry_after, '... with Retry-After ('
       . ($retry_after // 'none') . ')');
    is($off200, scalar @off, 'every session on the other masters: 200');

    my $back = 0;
    my $t0 = time;
    while (time - $t0 < 10) {
        $back = grep { get($n, '/p', $cookie{$_})->{status} == 200 } @on;
        last if $back == @on;
        sleep 0.2;
    }
    is($back, scalar @on, sprintf 'served again once it answers (%.1f s)',
       time - $t0);
    cluster_cli($replica, 'CONFIG', 'SET', 'cluster-replica-no-failover',
                'no');
    ok(cluster_wait_ok($c, 20), 'cluster ok');
}

# --- failover: a master SIGKILLed, its replica followed within 5 s -----------

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
    my ($victim) = cluster_masters($c);
    my @on;
    for my $u (sort keys %cookie) {
        push @on, $u if grep { $_->[0] == $victim
                               && $_->[1] =~ /^tn:u:\{....\}\Q$u\E$/ }
                        all_keys();
    }
    ok(@on > 0, scalar(@on) . " sessions on $victim");
    my $replica = replica_of($victim);
    cluster_kill($c, $victim);
    my $t0 = time;
    my ($dt, $promoted);
    while (time - $t0 < 15 * SessionTest::slow()) {
        $promoted //= time - $t0
            if cluster_cli($replica, 'ROLE') =~ /^master/;
        if (get($n, '/p', $cookie{$on[0]})->{status} == 200) {
            $dt = time - $t0;
            last;
        }
        sleep 0.05;
    }
    ok(defined $dt && $dt < 5 * SessionTest::slow(), sprintf 'nginx follows the promoted replica '
       . 'within 5 s (%s s; the replica was promoted after %s s)',
       defined $dt ? sprintf('%.2f', $dt) : 'never',
       defined $promoted ? sprintf('%.2f', $promoted) : '?');
    # every session of the victim's slots on both workers (requests go to
    # either): all of them 200 in two passes running
    my ($all, $passes) = (undef, 0);
    while (time - $t0 < 15 * SessionTest::slow()) {
        my $fail = grep { get($n, '/p', $cookie{$_})->{status} != 200 } @on;
        $passes = $fail ? 0 : $passes + 1;
        if ($passes == 2) {
            $all = time - $t0;
            last;
        }
        sleep 0.05;
    }
    ok(defined $all && $all < 5 * SessionTest::slow(),
       sprintf 'every session of those slots served within 5 s (%s s)',
       defined $all ? sprintf('%.2f', $all) : 'never');
    ok(cluster_wait_ok($c, 20), 'cluster ok again');
    my %st;
    $st{$_} = get($n, '/p', $cookie{$_})->{status} for sort keys %cookie;
    my $lost = grep { $st{$_} != 200 } keys %st;
    is($lost, 0, 'no session lost in the failover ('
       . scalar(keys %cookie) . ' checked)')
        or diag explain(\%st),
           join "\n", grep { /cluster|unavail|restored/ } split /\n/,
                           SessionTest::error_log($n);
}

# --- reshard under load -----------------------------------------------------

{
    my @m = cluster_masters($c);
    my %id = node_ids();
    my ($from, $to) = @m[0, 1];
    my $pid = fork // die;
    if ($pid == 0) {
        my $o = `redis-cli --cluster reshard 127.0.0.1:$from --cluster-from $id{$from} --cluster-to $id{$to} --cluster-slots 3000 --cluster-yes 2>&1`;
        POSIX::_exit($? >> 8);
    }
    my ($checks, $refused, %why) = (0, 0);
    my @users = sort keys %cookie;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        for my $u (@users) {
            my $st = get($n, '/p', $cookie{$u})->{status};
            $checks++;
            if ($st != 200) {
                $refused++;
                $why{$st}++;
            }
        }
    }
    is($? >> 8, 0, 'redis-cli --cluster reshard of 3000 slots');
    ok($checks > 100, "$checks lookups through nginx during the reshard");
    is($refused, 0, 'no valid session refused during the reshard')
        or diag explain \%why;
    my $after = grep { get($n, '/p', $cookie{$_})->{status} != 200 } @users;
    is($after, 0, 'every session found after the reshard');
    ok(SessionTest::error_log($n) !~ /\[(?:alert|crit|emerg)\]/,
       'no alert in the log');
}

done_testing();
