package Test::Nginx::Socket;

# Our own small, from-scratch stand-in for openresty's Test::Nginx::Socket
# (same data-driven .t format), used when the real one is not installed.
# Sections implemented - the single list is @ImplementedSections below; a
# block using ANY other section fails with "section ... not implemented":
#   ONLY SKIP LAST, config http_config main_config post_main_config
#   server_name user_files log_level init must_die, skip_eval skip_nginx
#   todo no_check_leak(no-op), request raw_request pipelined_requests
#   more_headers raw_request_middle_delay timeout abort shutdown wait
#   ignore_response, error_code error_code_like response_body
#   response_body_like response_body_unlike response_headers
#   response_headers_like raw_response_headers_like/_unlike, error_log
#   no_error_log grep_error_log grep_error_log_out access_log
#   no_access_log shutdown_error_log no_shutdown_error_log.
# Functions (besides Test::More's and Test::Base's plan/blocks/is/no_diff):
#   run_tests repeat_each no_shuffle no_long_string log_level workers
#   master_on master_off master_process_enabled worker_connections
#   env_to_nginx add_block_preprocessor add_cleanup_handler
#   add_response_body_check server_port server_port_for_client server_addr
#   server_name server_root html_dir no_root_location config_preamble
#   timeout check_accum_error_log bail_out is_str; use_hup/no_nginx_manager
#   and env modes USE_HUP CHECK_LEAK BENCHMARK USE_STAP USE_HTTP2/3 USE_RR
#   NO_NGINX_MANAGER fail loudly.  Exact semantics: comments below;
#   the nginx side (conf, start/stop, valgrind, logs) is in Util.pm.

use strict;
use warnings;

use Test::Base -base;
use Test::LongString ();
use File::Path ();
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(shuffle);
use POSIX qw(EAGAIN EINTR EWOULDBLOCK);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);

use Test::Nginx::Util qw(
    parse_time expand_env nginx_version setup_server_root write_user_files
    write_config_file start_nginx stop_nginx run_must_die nginx_running
    error_log_lines access_log_lines reset_error_log_pos eval_in_util
    diag_verbose
);

our $VERSION = '0.01-local';

our @EXPORT = qw(
    run_tests repeat_each no_shuffle no_long_string log_level workers
    master_on master_off master_process_enabled worker_connections
    env_to_nginx add_block_preprocessor add_cleanup_handler
    add_response_body_check server_port server_port_for_client server_addr
    server_name server_root html_dir no_root_location config_preamble
    timeout check_accum_error_log bail_out is_str use_hup no_nginx_manager
);

# The one list of section names this harness implements.
our @ImplementedSections = qw(
    ONLY SKIP LAST
    config http_config main_config post_main_config server_name
    user_files log_level init must_die
    skip_eval skip_nginx todo no_check_leak
    request raw_request pipelined_requests more_headers
    raw_request_middle_delay timeout abort shutdown wait ignore_response
    error_code error_code_like
    response_body response_body_like response_body_unlike
    response_headers response_headers_like
    raw_response_headers_like raw_response_headers_unlike
    error_log no_error_log grep_error_log grep_error_log_out
    access_log no_access_log
    shutdown_error_log no_shutdown_error_log
);
my %Implemented = map { $_ => 1 } @ImplementedSections;

# Custom sections that a test file's add_block_preprocessor() consumes
# itself.  A test file may declare them with
#   push @Test::Nginx::Socket::PreprocessorSections, 'my_section';
# (harmless under the real Test::Nginx), or the preprocessor may
# `delete $block->{my_section}` once it has used the value.
our @PreprocessorSections;

# Keys Test::Base keeps in a block object that are not sections.
my %BlockInternal = map { $_ => 1 }
    qw(name description seq_num is_filtered blocks_object original_values);

our $RepeatEach   = 1;
our $NoShuffle    = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoLongString = 0;
our @BlockPreprocessors;
our @CleanupHandlers;
our @ResponseBodyChecks;
our @Unsupported;     # unsupported features requested via functions
our $ShutdownBlock;   # last block that used the running nginx: its
                      # --- shutdown_error_log is checked when nginx stops
our $HaveConfig;      # some block has configured nginx already
our $Finished;        # run_tests completed its cleanup
our $MainPid = $$;

# ---------------------------------------------------------------------
# Functions for test files
# ---------------------------------------------------------------------

sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub no_shuffle ()     { $NoShuffle = 1 }
sub no_long_string () { $NoLongString = 1 }
sub no_root_location () { $Test::Nginx::Util::NoRootLocation = 1 }
sub check_accum_error_log () { $Test::Nginx::Util::CheckAccumErrLog = 1 }
sub master_on ()      { $Test::Nginx::Util::MasterProcess = 'on' }
sub master_off ()     { $Test::Nginx::Util::MasterProcess = 'off' }
sub use_hup ()        { push @Unsupported, 'use_hup()' }
sub no_nginx_manager () { push @Unsupported, 'no_nginx_manager()' }
sub html_dir ()       { $Test::Nginx::Util::HtmlDir }
sub server_root ()    { $Test::Nginx::Util::ServRoot }
sub config_preamble ($) { $Test::Nginx::Util::ConfigPreamble = shift }

sub master_process_enabled (@) {
    if (@_) {
        $Test::Nginx::Util::MasterProcess = shift() ? 'on' : 'off';
    }
    return $Test::Nginx::Util::MasterProcess;
}

# Getter/setter helpers for the simple knobs in Test::Nginx::Util.
sub _knob {
    my ($ref, @args) = @_;
    $$ref = shift @args if @args;
    return $$ref;
}
sub log_level (@)   { _knob(\$Test::Nginx::Util::LogLevel, @_) }
sub workers (@)     { _knob(\$Test::Nginx::Util::Workers, @_) }
sub timeout (@)     { _knob(\$Test::Nginx::Util::Timeout, @_) }
sub server_addr (@) { _knob(\$Test::Nginx::Util::ServerAddr, @_) }
sub server_name (@) { _knob(\$Test::Nginx::Util::ServerName, @_) }
sub server_port (@) { _knob(\$Test::Nginx::Util::ServerPort, @_) }
sub worker_connections (@) { _knob(\$Test::Nginx::Util::WorkerConns, @_) }

sub server_port_for_client (@) {
    $Test::Nginx::Util::ClientPort = shift if @_;
    return Test::Nginx::Util::client_port();
}

sub env_to_nginx (@) {
    die "env_to_nginx: no arguments specified\n" unless @_;
    for my $v (@_) {
        die "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @Test::Nginx::Util::EnvToNginx, $v;
    }
}

# Like Test::Nginx: the most recently added preprocessor runs first.
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }
sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

# String comparison honouring no_long_string() and qr// expectations.
sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    return Test::Base::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

# Stop nginx, then abort the whole test run.
sub bail_out (@) {
    cleanup(0);
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------
# Test::Base filter class: same filters, but an `eval` section whose
# Perl code dies is recorded, so that its block fails loudly instead of
# silently using the error message as the section value.
# ---------------------------------------------------------------------
package Test::Nginx::Socket::Filter;
require Test::Base::Filter;
our @ISA = ('Test::Base::Filter');

sub eval {
    my $self = shift;
    my $code = $_[0];
    my @ret = Test::Base::Filter::eval($self, @_);
    if ($@) {
        my $block = $self->current_block;
        (my $snippet = defined $code ? $code : '') =~ s/\s+/ /g;
        $snippet = substr($snippet, 0, 60) . '...' if length $snippet > 60;
        push @{ $block->{__harness_eval_errors} },
            "eval of section code \"$snippet\" failed: $@";
    }
    return @ret;
}

package Test::Nginx::Socket;

# ---------------------------------------------------------------------
# Main loop
# ---------------------------------------------------------------------

sub run_tests () {
    for my $env (qw(TEST_NGINX_USE_HUP TEST_NGINX_CHECK_LEAK
                    TEST_NGINX_BENCHMARK TEST_NGINX_USE_STAP
                    TEST_NGINX_USE_HTTP2 TEST_NGINX_USE_HTTP3
                    TEST_NGINX_USE_RR TEST_NGINX_NO_NGINX_MANAGER))
    {
        Test::More::fail("environment $env is not implemented by this harness")
            if $ENV{$env};
    }
    Test::More::fail("$_ is not implemented by this harness")
        for @Unsupported;

    eval { Test::Nginx::Util::nginx_V(); 1 } or bail_out($@);

    $ENV{TEST_NGINX_SERVER_PORT} = $Test::Nginx::Util::ServerPort
        if !defined $ENV{TEST_NGINX_SERVER_PORT} || $Test::Nginx::Util::Randomize;

    # Runs every block's filters (eval sections included) right now.
    my @blocks = Test::Base::blocks();

    if (!$NoShuffle && @blocks > 1) {
        my $seed = $ENV{TEST_NGINX_SHUFFLE_SEED};
        $seed = (time ^ $$) & 0x7fffffff unless defined $seed && $seed =~ /^\d+$/;
        Test::More::diag("shuffling blocks with seed $seed "
                         . "(TEST_NGINX_SHUFFLE_SEED=$seed reproduces the order)");
        srand $seed;
        @blocks = shuffle @blocks;
    }

    local $SIG{INT}  = sub { cleanup(0); exit 130 };
    local $SIG{TERM} = sub { cleanup(0); exit 143 };

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_block($block);
    }

    cleanup(1);
}

# Stop nginx (unless TEST_NGINX_NO_CLEAN) and run the end-of-run checks.
sub cleanup {
    my ($with_checks) = @_;
    return if $Finished || $$ != $MainPid;
    $Finished = 1;
    $_->() for @CleanupHandlers;
    my $no_clean = $ENV{TEST_NGINX_NO_CLEAN} && !$Test::Nginx::Util::UseValgrind;
    my $owner = $Test::Nginx::Util::NginxOwner // 'nginx';
    my @problems = $no_clean ? () : stop_nginx();
    my $root = $Test::Nginx::Util::ServRoot;
    if ($Test::Nginx::Util::Randomize && !$no_clean
        && $root =~ m{/t/servroot_\d+$})
    {
        File::Path::remove_tree($root);
    }
    return unless $with_checks;
    Test::More::fail("$owner - $_") for @problems;
    check_shutdown_error_log($ShutdownBlock, $no_clean) if $ShutdownBlock;
}

END {
    # Safety net when the test script dies half-way.
    cleanup(0) if !$Finished && defined $MainPid && $$ == $MainPid;
}

# Value of a section as stored by Test::Base (undef when absent).
sub section_value ($$) {
    my ($block, $name) = @_;
    my $v = $block->{$name};
    return undef unless ref $v eq 'ARRAY';
    return $v->[0];
}

# Problems that make a block fail before it runs: unimplemented
# sections, failed eval sections, sections Test::Nginx would ignore.
sub block_problems ($) {
    my ($block) = @_;
    my @problems;
    my %declared = map { $_ => 1 } @PreprocessorSections;
    my %seen;
    my @names = (@{ $block->{_section_order}[0] || [] }, sort keys %$block);
    for my $sec (@names) {
        next if $seen{$sec}++;
        next if $sec =~ /^_/ || $BlockInternal{$sec} || $declared{$sec};
        next unless exists $block->{$sec};
        next if $Implemented{$sec};
        push @problems, "section \"--- $sec\" is not implemented by this harness"
            . " (t/harness/Test/Nginx/Socket.pm)";
    }
    push @problems, @{ $block->{__harness_eval_errors} || [] };

    my $has = sub { defined section_value($block, $_[0]) };
    my @exclusive = (
        [qw(response_body response_body_like)],
        [qw(response_body response_body_unlike)],
        [qw(response_body_like response_body_unlike)],
        [qw(error_code error_code_like)],
        [qw(response_headers response_headers_like)],
        [qw(raw_request request)],
        [qw(raw_request pipelined_requests)],
        [qw(pipelined_requests request)],
        [qw(skip_eval skip_nginx)],
        [qw(skip_eval todo)],
        [qw(skip_nginx todo)],
    );
    for my $pair (@exclusive) {
        my ($x, $y) = @$pair;
        push @problems, "sections --- $x and --- $y cannot be combined "
            . "(Test::Nginx silently ignores one of them)"
            if $has->($x) && $has->($y);
    }
    # Sections Test::Nginx never looks at in these situations.
    my @response_checks = qw(error_code error_code_like response_body
        response_body_like response_body_unlike response_headers
        response_headers_like raw_response_headers_like
        raw_response_headers_unlike);
    for my $sec (@response_checks) {
        next unless $has->($sec);
        push @problems, "--- $sec is never checked with --- must_die"
            if $has->('must_die');
        push @problems, "--- $sec is never checked with --- ignore_response"
            if $has->('ignore_response');
    }
    push @problems, "--- more_headers has no effect with --- raw_request"
        if $has->('more_headers') && $has->('raw_request');
    push @problems, "--- no_shutdown_error_log is only checked by Test::Nginx "
        . "together with --- shutdown_error_log"
        if $has->('no_shutdown_error_log') && !$has->('shutdown_error_log');
    push @problems, "--- grep_error_log and --- grep_error_log_out go together"
        if $has->('grep_error_log') xor $has->('grep_error_log_out');
    return @problems;
}

# Decide whether a block's tests are skipped or TODO.  Returns a hash:
# {skip => N, todo => N, reason => ...} or {} or {error => msg}.
sub skip_spec ($) {
    my ($block) = @_;
    if (defined(my $s = $block->skip_eval)) {
        $s =~ /^\s*(\d+)\s*:\s*(.*)$/s
            or return { error => "invalid --- skip_eval spec: $s" };
        my ($n, $code) = ($1, $2);
        my ($res, $err) = eval_in_util($code);
        return { error => "--- skip_eval code failed: $err" } if $err;
        return $res ? { skip => $n, reason => 'skip_eval' } : {};
    }
    if (defined(my $s = $block->skip_nginx)) {
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
            or return { error => "invalid --- skip_nginx spec: $s" };
        my ($n, $op, $reason) = ($1, $2, $6);
        my $want = sprintf "%d.%03d%03d", $3, $4, $5;
        my $have = nginx_version();
        $reason ||= "nginx version $op $3.$4.$5";
        my $hit = !defined $have ? $op =~ /^</
                : $op eq '<'  ? $have <  $want
                : $op eq '<=' ? $have <= $want
                : $op eq '>'  ? $have >  $want
                :               $have >= $want;
        return $hit ? { skip => $n, reason => $reason } : {};
    }
    if (defined(my $s = $block->todo)) {
        $s =~ /^\s*(\d+)\s*:\s*(.*)$/s
            or return { error => "invalid --- todo spec: $s" };
        return { todo => $1, reason => $2 };
    }
    return {};
}

sub run_block ($) {
    my ($block) = @_;
    my $name = $block->name;

    my @problems = block_problems($block);
    if (@problems) {
        Test::More::fail("$name - $_") for @problems;
        return;
    }

    my $skip = skip_spec($block);
    if ($skip->{error}) {
        Test::More::fail("$name - $skip->{error}");
        return;
    }

    my $rand_ports = {};
    my %conf;
    for my $sec (qw(config http_config main_config post_main_config)) {
        my ($text, $err) = expand_env(section_value($block, $sec), $rand_ports);
        if (defined $err) {
            Test::More::fail("$name - --- $sec: $err");
            return;
        }
        $conf{$sec} = $text;
    }
    $conf{server_name} = $block->server_name;
    $conf{log_level}   = $block->log_level;
    my $must_die = $block->must_die;
    $conf{must_die} = defined $must_die;

    if (defined $must_die && !defined $conf{config}) {
        Test::More::fail("$name - --- must_die needs a --- config section");
        return;
    }

    if (defined $conf{config} && !$skip->{skip}) {
        # (Re)start nginx for this block with a fresh server root.
        my $owner = $Test::Nginx::Util::NginxOwner // 'nginx';
        Test::More::fail("$owner - $_") for stop_nginx();
        check_shutdown_error_log($ShutdownBlock, 0) if $ShutdownBlock;
        $ShutdownBlock = undef;

        my $err;
        eval {
            setup_server_root();
            $err = write_user_files(section_value($block, 'user_files'),
                                    $rand_ports);
            write_config_file(\%conf) unless defined $err;
            1;
        } or $err = $@;
        if (defined $err) {
            Test::More::fail("$name - $err");
            return;
        }
        $HaveConfig = 1;

        if (defined $must_die) {
            run_must_die_block($block, $must_die);
            return;
        }

        $err = start_nginx($name);
        if (defined $err) {
            Test::More::fail("$name - $err");
            return;
        }
        $ShutdownBlock = $block;
    } elsif (!defined $conf{config}) {
        if (!$HaveConfig) {
            Test::More::fail("$name - no --- config section and no earlier "
                             . "block's nginx to reuse");
            return;
        }
        # Like Test::Nginx: keep the running nginx (and its config).
        $ShutdownBlock = $block unless $skip->{skip};
    }

    if (!$skip->{skip} && defined(my $init = $block->init)) {
        my (undef, $err) = eval_in_util($init);
        if ($err) {
            Test::More::fail("$name - --- init failed: $err");
            return;
        }
    }

    reset_error_log_pos();
    for my $rep (0 .. $RepeatEach - 1) {
        if ($rep > 0) {
            my $err = write_user_files(section_value($block, 'user_files'),
                                       $rand_ports);
            Test::More::fail("$name - $err") if defined $err;
        }
        if ($skip->{skip}) {
            SKIP: { Test::More::skip("$name - $skip->{reason}", $skip->{skip}) }
            next;
        }
        if ($skip->{todo}) {
            TODO: { Test::More::todo_skip("$name - $skip->{reason}", $skip->{todo}) }
            next;
        }
        eval { run_requests($block, $rep); 1 }
            or Test::More::fail("$name - $@");
    }

    if (my $all = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (-s $Test::Nginx::Util::ErrLogFile && open my $out, '>>', $all) {
            print $out "\n=== $name\n";
            print $out Test::Nginx::Util::slurp($Test::Nginx::Util::ErrLogFile);
            close $out;
        }
    }
}

# --- must_die: nginx must fail to start; then the log checks run
# against nginx's stderr plus error.log.
sub run_must_die_block ($$) {
    my ($block, $must_die) = @_;
    my $name = $block->name;
    for my $rep (0 .. $RepeatEach - 1) {
        my ($status, $stderr) = run_must_die();
        if ($status == -1) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($status & 127) {
            Test::More::fail("$name - nginx was killed by signal "
                             . ($status & 127));
        } elsif (looks_like_number($must_die)) {
            Test::More::is($status >> 8, $must_die,
                           "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }
        if ($status == 0) {
            print STDERR "# WARNING: $name - nginx must die but it does not\n";
        }
        my @lines = ((split /^/m, $stderr), @{ error_log_lines() });
        check_error_log($block, \@lines, $rep, 0, 1);
    }
}

# ---------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------

# "--- more_headers" text -> ("Name: value\r\n"..., is_chunked).
sub parse_more_headers ($) {
    my ($in) = @_;
    my ($out, $chunked) = ('', 0);
    for my $h (split /\n+/, $in) {
        next if $h =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $h, 2;
        next unless defined $key;
        $val = '' unless defined $val;
        $chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# Turn "METHOD [URI [VERSION]]\nbody" (possibly split into packets)
# into a full HTTP request: request line, Host and Connection unless
# given, --- more_headers, Content-Length for a non-empty body (then
# stripped of surrounding whitespace).  Packet boundaries are kept at
# the corresponding places.  $packets: [{value, delay_before}, ...].
sub build_http_request ($$$$) {
    my ($name, $packets, $more, $conn) = @_;
    die "empty request\n" unless @$packets;
    my ($hdr, $chunked) = parse_more_headers($more);
    my $orig = join '', map { defined $_->{value} ? $_->{value} : '' } @$packets;

    $orig =~ /\A([^\n]*\n?)/;
    my $first = $1;
    die "request line should be non-empty\n" if $first eq '';
    $first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or die "request line is not valid. Should be 'meth [url [version]]' "
               . "but got \"$first\"\n";
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    my $F = length $first;

    my $content = substr $orig, $F;
    my ($lead, $body, $trail) = ('', $content, '');
    my $cl = '';
    if (!$chunked && $content ne '' && $hdr !~ /(?:^|\n)Content-Length:/) {
        ($lead, $body, $trail) = $content =~ /\A(\s*)(.*?)(\s*)\z/s;
        $cl = "Content-Length: " . length($body) . "\r\n";
    }

    my $headers = '';
    $headers .= "Host: $Test::Nginx::Util::ServerName\r\n"
        if $hdr !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n" if $hdr !~ /(?:^|\n)Connection/msi;
    $headers .= "$hdr$cl\r\n";

    # Segments: [orig start, orig end, output text]; a packet boundary
    # inside a segment moves along with it, inserted text (the headers)
    # goes with the packet before the boundary.
    my $c0 = $F + length $lead;
    my @segs = (
        [0, $F, "$meth $url $ver\r\n"],
        [$F, $F, $headers],
        [$F, $c0, ''],
        [$c0, $c0 + length $body, $body],
        [$c0 + length $body, length $orig, ''],
    );
    my $out_pos = sub {
        my $p = shift;
        my $pos = 0;
        for my $s (@segs) {
            my ($from, $to, $text) = @$s;
            if ($to <= $p) {
                $pos += length $text;
            } elsif ($from < $p) {
                my $k = $p - $from;
                $k = length $text if $k > length $text;
                $pos += $k;
            }
        }
        return $pos;
    };
    my $full = join '', map { $_->[2] } @segs;

    my @out;
    my $orig_end = 0;
    for my $pk (@$packets) {
        my $from = $out_pos->($orig_end);
        $orig_end += length(defined $pk->{value} ? $pk->{value} : '');
        my $to = $out_pos->($orig_end);
        push @out, { %$pk, value => substr($full, $from, $to - $from) };
    }
    $out[-1]{value} .= substr($full, $out_pos->($orig_end));
    return \@out;
}

# A request given as a string or as an array of packets (strings or
# {value => ..., delay_before => ...}) -> list of packet hashes.
sub packet_list ($) {
    my ($req) = @_;
    return [{ value => $req }] unless ref $req;
    die "a request must be a string or an ARRAY of packets\n"
        unless ref $req eq 'ARRAY';
    return [ map {
        !ref $_ ? { value => $_ }
        : ref $_ eq 'HASH' ? { %$_ }
        : die "a packet must be a string or a HASH with a value\n"
    } @$req ];
}

# Build every request of a block.  Returns (list of packet lists,
# number of pipelined requests or 0).
sub build_requests ($) {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $rr = $block->raw_request)) {
        return ([packet_list($rr)], 0);
    }

    my $more = $block->more_headers;
    $more = '' unless defined $more;
    my $hdr_for = sub {
        my $i = shift;
        return $more unless ref $more;
        die "--- more_headers must be a string or an ARRAY\n"
            unless ref $more eq 'ARRAY';
        die "--- more_headers lacks data for request $i\n"
            unless defined $more->[$i];
        return $more->[$i];
    };

    if (defined(my $reqs = $block->pipelined_requests)) {
        die "--- pipelined_requests must be an ARRAY (use \"eval\")\n"
            unless ref $reqs eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$reqs) {
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            my $pk = build_http_request($name, [{ value => $reqs->[$i] }],
                                        $hdr_for->($i), $conn);
            $all .= join '', map { $_->{value} } @$pk;
        }
        return ([[{ value => $all }]], scalar @$reqs);
    }

    my $request = $block->request;
    die "no --- request, --- raw_request or --- pipelined_requests section\n"
        unless defined $request;

    if (!ref $request) {
        # Leading "# comment" lines and whitespace are dropped.
        1 while $request =~ s/^\s*#[^\n]+\s+|^\s+//gs;
        return ([build_http_request($name, [{ value => $request }],
                                    $hdr_for->(0), 'close')], 0);
    }
    die "--- request must be a string or an ARRAY of requests\n"
        unless ref $request eq 'ARRAY';
    my @list;
    for my $i (0 .. $#$request) {
        push @list, build_http_request($name, packet_list($request->[$i]),
                                       $hdr_for->($i), 'close');
    }
    return (\@list, 0);
}

# Send one request (list of packets) on a new connection and read the
# response until the server closes it.  $timeout bounds the wait for
# each I/O event.  Returns the raw response bytes.
sub send_request ($$$) {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my $addr = $Test::Nginx::Util::ServerAddr;
    my $port = Test::Nginx::Util::client_port();
    my $middle_delay = parse_time($block->raw_request_middle_delay);

    my $sock;
    my $deadline = time + 1;
    while (1) {
        $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        if (time > $deadline) {
            Test::More::fail("$name - can't connect to $addr:$port: $!");
            return '';
        }
        sleep 0.05;
    }
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my @queue = @$packets;
    my $cur = shift @queue;
    my $off = 0;
    my ($resp, $reading, $writing) = ('', 1, 1);
    my $sel = IO::Select->new($sock);

    while ($reading) {
        # Move on to the next packet (after its delay) when one is done.
        while ($writing && $off >= length $cur->{value}) {
            if (!@queue) {
                $writing = 0;
                my $sd = $block->shutdown;
                if (defined $sd) {
                    shutdown($sock, $sd =~ /^\s*(\d)\s*$/ ? $1 : 1);
                }
                last;
            }
            $cur = shift @queue;
            $off = 0;
            my $delay = defined $cur->{delay_before} ? $cur->{delay_before}
                                                      : $middle_delay;
            sleep $delay if $delay;
        }

        $! = 0;
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef,
                                         undef, $timeout);
        if (!$r && !$w) {
            next if $! == EINTR;
            close $sock;
            Test::More::fail("ERROR: client socket timed out - $name")
                unless defined $block->abort;
            return $resp;
        }
        if ($w && @$w) {
            my $n = syswrite($sock, $cur->{value}, length($cur->{value}) - $off,
                             $off);
            if (defined $n) {
                $off += $n;
            } elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
                diag_verbose("$name - write failed: $!");
                $writing = 0;
            }
        }
        if ($r && @$r) {
            my $n = sysread($sock, my $buf, 65536);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                diag_verbose("$name - read failed: $!");
                last;
            }
            last if $n == 0;
            $resp .= $buf;
        }
    }
    close $sock;
    return $resp;
}

# Parse one response off the front of $raw.  Returns (HTTP::Response,
# raw header text, bytes left over after this response), or () after a
# failed assertion for a malformed chunked body.
sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        $res->code(undef);
        undef $code;
    }
    return ($res, $raw_headers, undef)
        if $code && ($code == 304 || $code == 101);

    my $te  = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;
    if (defined $te && $te eq 'chunked') {
        my $body = $res->content;
        $body = '' unless defined $body;
        my $decoded = '';
        while (1) {
            if ($body =~ /\G0[ \t]*\r\n\r\n/gc) {
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                my $pos = pos $body;
                if (length($body) - $pos < $size) {
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(not enough octets for the data section)");
                    return ();
                }
                $decoded .= substr $body, $pos, $size;
                pos($body) = $pos + $size;
                if ($body !~ /\G\r\n/gc) {
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(expected CRLF)");
                    return ();
                }
            } elsif ($body =~ /\G(.+)/gcs) {
                Test::More::fail("$name - invalid chunked body received: $1");
                return ();
            } else {
                Test::More::fail("$name - no last chunk found - $body");
                return ();
            }
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\d+$/) {
        my $body = $res->content;
        $body = '' unless defined $body;
        if (length $body < $len) {
            print STDERR "# WARNING: $name - response body truncated: $len "
                . "expected, but got " . length($body) . "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

# The expectation for request $idx: arrays are indexed, a scalar is only
# accepted when the block sends one request.
sub indexed ($$$) {
    my ($value, $idx, $need_array) = @_;
    if (ref $value && ref $value eq 'ARRAY') {
        return $value->[$need_array ? $idx : 0];
    }
    die "the block sends several requests, so its expectations must be "
        . "ARRAYs too (use \"eval\")\n" if $need_array;
    return $value;
}

sub run_requests ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my ($reqs, $n_pipelined) = build_requests($block);
    my $timeout = parse_time($block->timeout);
    $timeout = $Test::Nginx::Util::Timeout unless defined $timeout;
    my $need_array = $n_pipelined ? 1 : @$reqs > 1;
    my $wait = parse_time($block->wait);

    my $req_idx = 0;
    for my $k (0 .. $#$reqs) {
        my $raw = send_request($block, $reqs->[$k], $timeout);
        my $head_req = join('', map { $_->{value} } @{ $reqs->[$k] })
                       =~ /^\s*HEAD\s+/ ? 1 : 0;
        my $count = $n_pipelined || 1;
        for my $j (1 .. $count) {
            my ($res, $raw_headers, $left);
            if (!defined $block->ignore_response) {
                ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req);
                check_response($block, $res, $raw_headers, $req_idx, $rep,
                               $need_array);
            }
            if ($n_pipelined) {
                $raw = defined $left ? $left : '';
            } elsif (defined $left && length $left) {
                (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                print STDERR "# WARNING: $name - unexpected extra bytes after "
                    . "the response: \"$l\"\n";
            }
            my $is_last = $k == $#$reqs && $j == $count;
            if (!$is_last) {
                sleep $wait if $wait;
                check_error_log($block, undef, $rep, $need_array);
                check_access_log($block, $rep)
                    unless defined $block->ignore_response;
            }
            $req_idx++;
        }
    }
    sleep $wait if $wait;
    check_error_log($block, undef, $rep, $need_array);
    check_access_log($block, $rep) unless defined $block->ignore_response;
}

# ---------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------

sub check_response ($$$$$$) {
    my ($block, $res, $raw_headers, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    $raw_headers = '' unless defined $raw_headers;
    my $port = $Test::Nginx::Util::ServerPort;
    my $cport = Test::Nginx::Util::client_port();
    my $subst_port = sub {
        my $s = shift;
        return $s if !defined $s || ref $s;
        $s =~ s/\$ServerPortForClient\b/$cport/g;
        $s =~ s/\$ServerPort\b/$port/g;
        return $s;
    };

    # Status code: always checked, 200 unless said otherwise.
    if (defined $block->error_code_like) {
        my $pat = indexed($block->error_code_like, $idx, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        Test::More::is($code, indexed($block->error_code, $idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }

    if (defined $block->raw_response_headers_like) {
        my $pat = indexed($block->raw_response_headers_like, $idx, $need_array);
        Test::More::like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = indexed($block->raw_response_headers_unlike, $idx, $need_array);
        Test::More::unlike($raw_headers, qr/$pat/s,
                           "$name - raw resp headers unlike");
    }

    # response_headers: "Name: value" exact, "!Name" (or no colon) absent.
    if (defined $block->response_headers) {
        for my $h (header_lines(indexed($block->response_headers, $idx,
                                        $need_array)))
        {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                    "$name - header $key not present in the raw headers");
                next;
            }
            my $actual = $res ? scalar $res->header($key) : undef;
            Test::More::is(defined $actual ? $actual : '', $subst_port->($val),
                           "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        for my $h (header_lines(indexed($block->response_headers_like, $idx,
                                        $need_array)))
        {
            my ($key, $val) = @$h;
            my $actual = $res ? scalar $res->header($key) : undef;
            $val = '' unless defined $val;
            Test::More::like(defined $actual ? $actual : '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }

    my $content = $res ? $res->content : undef;
    if (defined $block->response_body) {
        my $expected = $subst_port->(indexed($block->response_body, $idx,
                                             $need_array));
        my $desc = "$name - response_body - response is expected "
                 . "(repeated req $rep, req $idx)";
        if (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $rep, req $idx)");
        } else {
            is_str($content, $expected, $desc);
        }
    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $pat = $subst_port->(indexed(section_value($block, "response_body_$type"),
                                        $idx, $need_array));
        my $summary = defined $content ? $content : '';
        $summary =~ s/^\s+|\s+$//g;
        $summary =~ s/\s+/ /g;
        my $desc = "$name - response_body_$type - response is expected ($summary)";
        if ($type eq 'like') {
            Test::More::like($content, qr/$pat/s, $desc);
        } else {
            Test::More::unlike($content, qr/$pat/s, $desc);
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $idx, $rep, 0);
    }
}

# "Name: value" lines -> ([name, value or undef for "absent"], ...).
sub header_lines ($) {
    my ($text) = @_;
    my @out;
    for my $line (split /\n/, defined $text ? $text : '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @out, [$line, undef];
        } else {
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            push @out, [$key, $val];
        }
    }
    return @out;
}

# A --- error_log style value -> list of patterns (strings or qr//).
sub pattern_list ($) {
    my ($pats) = @_;
    if (!ref $pats) {
        chomp $pats;
        return split /\n+/, $pats;
    }
    return ($pats) if ref $pats eq 'Regexp';
    return @$pats if ref $pats eq 'ARRAY';
    die "a log pattern section must be a string, a qr// or an ARRAY\n";
}

sub line_matches ($$) {
    my ($line, $pat) = @_;
    return ref $pat ? scalar($line =~ $pat) : index($line, $pat) >= 0;
}

sub fmt_str ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# Patterns that must each match some line ("--- error_log" style).
sub check_present ($$$$) {
    my ($lines, $pats, $desc, $skip) = @_;
    for my $pat (@$pats) {
        next unless defined $pat;
        if ($skip) {
            SKIP: { Test::More::skip("$desc - skipped", 1) }
            next;
        }
        if (grep { line_matches($_, $pat) } @$lines) {
            Test::More::pass("$desc: pattern \"$pat\" matches a line");
        } else {
            Test::More::fail("$desc: pattern \"$pat\" should match a line");
        }
    }
}

# Patterns that must match no line ("--- no_error_log" style): one
# failure per offending line, one pass per clean pattern.
sub check_absent ($$$$) {
    my ($lines, $pats, $desc, $skip) = @_;
    for my $pat (@$pats) {
        next unless defined $pat;
        if ($skip) {
            SKIP: { Test::More::skip("$desc - skipped", 1) }
            next;
        }
        my @hits = grep { line_matches($_, $pat) } @$lines;
        if (@hits) {
            Test::More::fail("$desc: pattern \"" . fmt_str($pat)
                . "\" should not match any line but matches \""
                . fmt_str($_) . "\"") for @hits;
        } else {
            Test::More::pass("$desc: pattern \"" . fmt_str($pat)
                             . "\" does not match a line");
        }
    }
}

# Error log checks after a request (or, for --- must_die, on the given
# lines).  Reading advances the error.log position in every case.
sub check_error_log ($$$;$$) {
    my ($block, $lines, $rep, $need_array, $quiet) = @_;
    my $name = $block->name;
    $lines = error_log_lines() unless $lines;

    if (defined(my $grep = $block->grep_error_log)) {
        $grep = $grep->[$rep] if ref $grep eq 'ARRAY';
        my $expected = $block->grep_error_log_out;
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        my $matched = '';
        for my $line (@$lines) {
            my $m;
            if (ref $grep) {
                $m = $& if $line =~ $grep;
            } elsif (index($line, $grep) >= 0) {
                $m = $grep;
            }
            $matched .= "$m\n" if defined $m && $m !~ /\n/;
        }
        is_str($matched, $expected, "$name - grep_error_log_out (req $rep)");
    }

    my %mentioned;
    for my $sec (qw(error_log no_error_log)) {
        my $v = $block->$sec;
        next unless defined $v;
        my @pats = pattern_list($v);
        for my $lvl (qw(alert crit emerg)) {
            $mentioned{$lvl} = 1
                if grep { !ref $_ && index($_, "[$lvl") >= 0 } @pats;
        }
        if ($sec eq 'error_log') {
            check_present($lines, \@pats, "$name - error.log (req $rep)", 0);
        } else {
            check_absent($lines, \@pats, "$name - error.log (req $rep)", 0);
        }
    }

    for my $line (@$lines) {
        for my $lvl (qw(alert crit emerg)) {
            next if $quiet || $mentioned{$lvl} || index($line, "[$lvl]") < 0;
            print STDERR "# WARNING: $name - " . fmt_str($line) . "\n";
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            Test::More::fail("$name - " . fmt_str($line));
        }
    }
}

sub check_access_log ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;
    return unless defined $block->access_log || defined $block->no_access_log;
    my $lines = access_log_lines();
    check_present($lines, [pattern_list($block->access_log)],
                  "$name - access.log (req $rep)", 0)
        if defined $block->access_log;
    check_absent($lines, [pattern_list($block->no_access_log)],
                 "$name - access.log (req $rep)", 0)
        if defined $block->no_access_log;
}

# --- shutdown_error_log / --- no_shutdown_error_log of $block, checked
# on the lines nginx wrote after the block's last check (that is, while
# it was stopped).  $dry_run (TEST_NGINX_NO_CLEAN) skips them.
sub check_shutdown_error_log ($$) {
    my ($block, $dry_run) = @_;
    return unless $block && defined $block->shutdown_error_log;
    my $name = $block->name;
    my $lines = $dry_run ? [] : error_log_lines();
    if (defined $block->no_shutdown_error_log) {
        check_absent($lines, [pattern_list($block->no_shutdown_error_log)],
                     "$name - shutdown error.log", $dry_run);
    }
    check_present($lines, [pattern_list($block->shutdown_error_log)],
                  "$name - shutdown error.log", $dry_run);
}

1;
