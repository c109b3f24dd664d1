# The fault-injection run (scripts/faults) in its quick mode: Redis killed,
# paused and blocked under load, a fake Redis answering garbage, a Redis
# that rejects the connection setup, and `nginx -s reload` every second
# under load.  About a minute; the figures go to the TAP output only
# (`scripts/faults` without FAULTS_QUICK regenerates docs/reliability.md).
# Skipped where wrk is not installed.
use strict;
use warnings;
use FindBin;

my $script = "$FindBin::Bin/../scripts/faults";
$ENV{FAULTS_QUICK} //= 1;
$ENV{FAULTS_OUTPUT} //= '-';
exec $^X, $script or die "exec $script: $!\n";
