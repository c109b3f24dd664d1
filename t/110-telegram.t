# Telegram Mini App initData at the edge: the published first-party and
# third-party vectors, and malformed or tampered initData.  The vectors'
# auth_date is old, so max_age is set wide where they must pass.
use Test::Nginx::Socket 'no_plan';
use FindBin;

$ENV{TEST_NGINX_SECRETS} = "$FindBin::Bin/secrets";
$ENV{TEST_NGINX_KEYS} = "$FindBin::Bin/keys";
chmod 0600, glob("$FindBin::Bin/keys/*.keys");
chmod 0600, glob("$FindBin::Bin/secrets/*");

# The published initData vectors, as sent after "tma ".
my %vector = (
    # first-party (bot token t/secrets/bot.token), the docs' example
    first_party => join('&',
        'user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22en%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%7D',
        'chat_instance=-3788475317572404878',
        'chat_type=private',
        'auth_date=1709144340',
        'hash=371697738012ebd26a111ace4aff23ee265596cd64026c8c3677956a85ca1827'),
    # third-party (bot id 7342037359, Telegram's production key)
    third_party => join('&',
        'user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%20-%20%3F%20%5C%2F%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22%3A%22https%3A%5C%2F%5C%2Ft.me%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg%22%7D',
        'chat_instance=8134722200314281151',
        'chat_type=private',
        'auth_date=1733584787',
        'hash=2174df5b000556d044f3f020384e879c8efcab55ddea2ced4eb752e93e7080d6',
        'signature=zL-ucjNyREiHDE8aihFwpfR9aggP2xiAo3NSpfe-p7IbCisNlDKlo7Kb6G4D0Ao2mBrSgEk4maLSdv6MLIlADQ'),
    # the second first-party vector (t/secrets/other-bot.token)
    first_party_2 => join('&',
        'query_id=AAHdF6IQAAAAAN0XohDhrOrc',
        'user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%7D',
        'auth_date=1662771648',
        'hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2'),
);

# initData NAME with edits: each FROM (a string or qr//) => TO replaces
# the one place FROM occurs.  A FROM that is not there exactly once
# dies (the block fails): a tampered vector really differs.
sub main::init_data {
    my ($name, @edits) = @_;
    my $data = $vector{$name} // die "no initData vector \"$name\"\n";
    while (my ($from, $to) = splice @edits, 0, 2) {
        my $re = ref $from ? $from : qr/\Q$from\E/;
        my $n = () = $data =~ /$re/g;
        die "\"$from\" occurs $n times in \"$name\", not once\n" if $n != 1;
        $data =~ s/$re/$to/;
    }
    return $data;
}

# "--- session_telegram: PARAMS" is the config of the blocks that do not
# write their own: /tg checks initData with these parameters and passes
# what it found to /echo, which answers
# "STATUS USER_ID AUTH_DATE [START_PARAM]".
push @Test::Nginx::Socket::PreprocessorSections, 'session_telegram';
add_block_preprocessor(sub {
    my $block = shift;
    my $params = $block->session_telegram;
    return unless defined $params;
    die "--- session_telegram and --- config together\n"
        if defined $block->config;
    chomp $params;
    $block->set_value(config => <<"CONF");
    location = /tg {
        session_telegram $params;
        proxy_set_header X-TG "\$session_telegram_status \$session_telegram_user_id \$session_telegram_auth_date [\$session_telegram_start_param]";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { return 200 "\$http_x_tg\\n"; }
CONF
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: first-party vector (docs example) is valid
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data('first_party')
--- error_code: 200
--- response_body
ok 279058397 1709144340 []
--- no_error_log
[warn]
[error]



=== TEST 2: third-party vector with the production key
--- session_telegram: bot_id=7342037359 public_key=production max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data('third_party')
--- error_code: 200
--- response_body
ok 279058397 1733584787 []



=== TEST 3: third-party vector with the test key is invalid
--- session_telegram: bot_id=7342037359 public_key=test max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data('third_party')
--- error_code: 401



=== TEST 4: third-party vector with another bot id is invalid
--- session_telegram: bot_id=7342037360 public_key=production max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data('third_party')
--- error_code: 401



=== TEST 5: one changed byte in the data is invalid
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma "
. main::init_data(first_party => 'chat_type=private' => 'chat_type=privatf')
--- error_code: 401



=== TEST 6: one changed byte in the hash is invalid
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data(first_party => 'a85ca1827' => 'a85ca1027')
--- error_code: 401



=== TEST 7: a duplicate key is invalid
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data('first_party') . '&chat_type=private'
--- error_code: 401



=== TEST 8: no hash is invalid
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data(first_party => qr/&hash=[0-9a-f]+$/ => '')
--- error_code: 401



=== TEST 9: bad percent-encoding is invalid
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data(first_party => 'user=%7B' => 'user=%7G')
--- error_code: 401



=== TEST 10: no Authorization: 401
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y
--- request
GET /tg
--- error_code: 401



=== TEST 11: another scheme: 401
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: Bearer " . main::init_data('first_party')
--- error_code: 401



=== TEST 12: tma with nothing after it: 401
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y
--- request
GET /tg
--- more_headers
Authorization: tma 
--- error_code: 401



=== TEST 13: an old auth_date with the default max_age (1h) is stale
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/bot.token
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data('first_party')
--- error_code: 401
--- error_log
initData is too old



=== TEST 14: the wrong bot token is invalid
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/other-bot.token max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data('first_party')
--- error_code: 401



=== TEST 15: the second published first-party vector, with its own token
--- session_telegram: bot_token_file=$TEST_NGINX_SECRETS/other-bot.token max_age=30y
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data('first_party_2')
--- error_code: 200
--- response_body
ok 279058397 1662771648 []



=== TEST 16: login=on exchanges valid initData for an edge session "tg:<id>"
--- http_config
    session_keys $TEST_NGINX_KEYS/ring1.keys;
    session_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t110:;
    session_cookie sid secure=off;
--- config
    location = /tg {
        session_telegram bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y login=on;
        session_issue on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { return 200 "welcome\n"; }
--- request
GET /tg
--- more_headers eval
"Authorization: tma " . main::init_data('first_party')
--- error_code: 200
--- response_headers_like
Set-Cookie: sid=k1\..*; Path=/; HttpOnly; SameSite=Lax
--- response_body
welcome



=== TEST 17: login=on with tampered initData: 401 and no cookie
--- http_config
    session_keys $TEST_NGINX_KEYS/ring1.keys;
    session_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t110:;
    session_cookie sid secure=off;
--- config
    location = /tg {
        session_telegram bot_token_file=$TEST_NGINX_SECRETS/bot.token max_age=30y login=on;
        session_issue on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { return 200 "welcome\n"; }
--- request
GET /tg
--- more_headers eval
"Authorization: tma "
. main::init_data(first_party => 'chat_type=private' => 'chat_type=privatf')
--- error_code: 401
--- response_headers
!Set-Cookie
