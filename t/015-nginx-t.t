# What an operator sees from "nginx -t": a warning for a key file readable
# by others, and failures that name the key file, its line, and the
# configuration file and line of the directive.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use SessionTest;
use File::Temp qw(tempdir);
use File::Copy qw(copy);

my $keys = test_keys_dir();
my $dir = tempdir(CLEANUP => 1);
my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $modules = join '', map { "load_module $_;\n" }
                       split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
# the lines before http{}'s text: the load_module lines (none for an nginx
# with the module linked in), error_log, pid, events, http
my $head = 4 + (() = $modules =~ /\n/g);

sub nginx_t {
    my ($http) = @_;
    mkdir "$dir/logs";
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "${modules}error_log $dir/logs/error.log;\n"
            . "pid $dir/logs/nginx.pid;\nevents {}\nhttp {\n$http\n}\n";
    close $fh;
    my $out = `$binary -t -p $dir -c $dir/nginx.conf 2>&1`;
    return ($out, $? >> 8);
}

copy("$keys/ring1.keys", "$dir/loose.keys") or die $!;
chmod 0644, "$dir/loose.keys";

my ($out, $rc) = nginx_t("session_keys $dir/loose.keys;");
is($rc, 0, 'a key file readable by others: nginx -t passes');
like($out, qr/\[warn\].*"session_keys" file ".*loose\.keys" is accessible by group or others \(mode 0644\), it should be 0600/,
     '... with a warning naming the file and the mode');

($out, $rc) = nginx_t("session_keys $keys/ring1.keys;");
is($rc, 0, 'a 0600 key file: nginx -t passes');
unlike($out, qr/\[warn\]/, '... without a warning');

($out, $rc) = nginx_t("\n\n    session_keys $keys/bad-dupkid.keys;");
isnt($rc, 0, 'a bad key file: nginx -t fails');
like($out, qr{\[emerg\] .*"session_keys" file ".*/bad-dupkid\.keys" line 2: duplicate key id "k1" in \Q$dir\E/nginx\.conf:@{[ $head + 3 ]}\b},
     '... naming the key file, its line, and nginx.conf with its line');
like($out, qr/test failed/, '... and says the test failed');

($out, $rc) = nginx_t("session_keys $dir/none.keys;");
like($out, qr{\[emerg\] .*"session_keys" cannot open ".*none\.keys" \(2: No such file or directory\)},
     'a missing key file: the reason from the system');

# --- one secret-file reader (issue 12): the key ring, password_file=,
# signature secrets and bot tokens get the same checks and messages
{
    open my $pw, '>', "$dir/redis.pass" or die;
    print $pw "s3cret\n";
    close $pw;
    chmod 0644, "$dir/redis.pass";
    open my $em, '>', "$dir/empty.secret" or die;
    close $em;
    chmod 0600, "$dir/empty.secret";
    mkdir "$dir/a-dir";

    ($out, $rc) = nginx_t("session_keys $keys/ring1.keys;\n"
        . "    session_redis 127.0.0.1:6379 password_file=$dir/redis.pass;");
    is($rc, 0, 'a password file readable by others: nginx -t passes');
    like($out, qr/\[warn\].*"session_redis" password file ".*redis\.pass" is accessible by group or others \(mode 0644\), it should be 0600/,
         '... with the key file\'s warning');

    ($out, $rc) = nginx_t("server { location / { session_signature github "
                          . "secret_file=$dir/empty.secret; } }");
    isnt($rc, 0, 'an empty secret file: nginx -t fails');
    like($out, qr/\[emerg\].*"session_signature" file ".*empty\.secret" is empty/,
         '... with the key file\'s message');

    ($out, $rc) = nginx_t("server { location / { session_telegram "
                          . "bot_token_file=$dir/a-dir; } }");
    like($out, qr/\[emerg\].*"session_telegram" file ".*a-dir" is not a regular file/,
         'a directory as bot token file: named as the key file would be');

    ($out, $rc) = nginx_t("session_keys $dir/a-dir;");
    like($out, qr/\[emerg\].*"session_keys" file ".*a-dir" is not a regular file/,
         '... and as a key file');
}

# --- every time and size parameter is bounded (issue 16 item 6): the
# error names the parameter, the range, and nginx.conf with its line
my $sec = "$FindBin::Bin/secrets";
chmod 0600, glob("$sec/*");
my $base = "session_keys $keys/ring1.keys;\n"
         . "    session_redis 127.0.0.1:6379;\n";
my @bounds = (
    [ 'session_timeout absolute=292471208677y;',
      qr/invalid "session_timeout" parameter "absolute=292471208677y" \(TIME from 1s to 10y\)/ ],
    [ 'session_timeout idle=11y absolute=11y;',
      qr/invalid "session_timeout" parameter "idle=11y" \(TIME from 1s to 10y\)/ ],
    [ 'session_timeout idle=1m touch=9999999999999s;',
      qr/invalid "session_timeout" parameter "touch=9999999999999s" \(TIME from 1s to 10y\)/ ],
    [ 'session_cookie sid max_age=20y;',
      qr/invalid "session_cookie" parameter "max_age=20y" \(max_age=TIME, 0s to 10y\)/ ],
    [ 'server { location / { session_signature miniapp secret_file=' . "$sec/miniapp.secret" . ' tolerance=100y; } }',
      qr/invalid "session_signature" parameter "tolerance=100y" \(tolerance=TIME, 1s to 50y\)/ ],
    [ 'server { location / { session_telegram bot_token_file=' . "$sec/bot.token" . ' max_age=292471208677y; } }',
      qr/invalid "session_telegram" parameter "max_age=292471208677y" \(max_age=TIME, 1s to 50y\)/ ],
    [ 'session_cache zone=c:1m valid=61s;',
      qr/invalid "session_cache" parameter "valid=61s" \(valid=TIME, 1s to 60s\)/ ],
    [ 'server { location / { session_assertion header=X-A ttl=6m; } }',
      qr/invalid "session_assertion" parameter "ttl=6m" \(ttl=TIME, 1s to 5m\)/ ],
    [ 'server { location / { session_issue on grace=0s; } }',
      qr/invalid "session_issue" parameter "grace=0s" \(grace=TIME, 1s to 5m\)/ ],
    [ 'server { location / { session_limit max=1001; } }',
      qr/invalid "session_limit" value "max=1001" \(max=1 to max=1000\)/ ],
    [ 'session_cache zone=big:100000m;',
      qr/session cache zone "zone=big:100000m" is too large \(at most 65536m\)/ ],
);
for my $b (@bounds) {
    my ($directive, $want) = @$b;
    my $conf = $directive =~ /^session_redis/ ? $directive
             : "$base    $directive";
    ($out, $rc) = nginx_t($conf);
    isnt($rc, 0, "nginx -t fails: $directive");
    like($out, qr/\[emerg\] .*$want in \Q$dir\E\/nginx\.conf:(\d+)/,
         '... naming the parameter, the range, the file');
    my ($line) = $out =~ /nginx\.conf:(\d+)/;
    open my $fh, '<', "$dir/nginx.conf" or die $!;
    my @l = <$fh>;
    my ($first) = $directive =~ /^(\S+)/;
    like($l[($line // 1) - 1] // '', qr/\Q$first\E/, '... and its line');
}
for my $t ('connect_timeout=11m', 'timeout=9999999999999s') {
    ($out, $rc) = nginx_t("session_keys $keys/ring1.keys;\n"
                          . "    session_redis 127.0.0.1:6379 $t;");
    isnt($rc, 0, "nginx -t fails: session_redis $t");
    like($out, qr/invalid "session_redis" parameter "\Q$t\E" \(TIME from 1ms to 10m\) in \Q$dir\E\/nginx\.conf:\d+/,
         '... naming the parameter and the range');
}
($out, $rc) = nginx_t("$base    session_timeout idle=10y absolute=10y "
                      . "touch=1h;\n    session_cookie sid max_age=10y;");
is($rc, 0, 'the bounds themselves pass nginx -t') or diag $out;
($out, $rc) = nginx_t("$base    session_cookie sid max_age=0s;\n"
    . "    session_cache zone=c:1m valid=60s;\n"
    . "    server { location / { session_issue on grace=5m; }\n"
    . "      location /s { session_signature miniapp secret_file="
    . "$sec/miniapp.secret tolerance=50y inflight=7d; }\n"
    . "      location /t { session_telegram bot_token_file=$sec/bot.token"
    . " max_age=50y; } }");
is($rc, 0, '... and so do the other parameters\' bounds') or diag $out;

done_testing();
