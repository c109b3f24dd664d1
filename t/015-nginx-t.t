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

done_testing();
