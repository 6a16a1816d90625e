# 010_signals.pl - the llm worker's signals and threads (issue 17 points 7
# and 8):
#  - with llm.threads = 0 the embedding context runs one thread per CPU
#    (the worker gains nproc - 1 threads at its first embedding);
#  - while the worker computes a long chunk of embeddings its own thread
#    blocks neither SIGTERM nor SIGQUIT (SigBlk of /proc/<pid>/status,
#    sampled during the work);
#  - pg_terminate_backend during such a chunk stops it halfway (the engine
#    asks the worker's interrupt check between batches): the session gets
#    the error saying so, a new worker starts and serves embeddings again.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use LlmNode;

LlmNode::require_model();
plan skip_all => 'no embedding model (LLM_EMBED_NAME)' if $LlmNode::embed_name eq '';
plan skip_all => 'needs /proc' unless -d '/proc/self/task';

my $node = LlmNode::new_node('signals', "llm.threads = 0\n");
my $ncpu = `getconf _NPROCESSORS_ONLN`;
chomp $ncpu;

# threads of a process, from /proc
sub n_tasks
{
	my ($pid) = @_;
	opendir(my $d, "/proc/$pid/task") or return -1;
	my @t = grep { /^\d+$/ } readdir($d);
	closedir($d);
	return scalar @t;
}

# the blocked-signal mask of a process's main thread (undef once it is gone)
sub sigblk
{
	my ($pid) = @_;
	open(my $f, '<', "/proc/$pid/status") or return undef;
	while (<$f>)
	{
		if (/^SigBlk:\s*([0-9a-f]+)/)
		{
			close $f;
			return hex($1);
		}
	}
	close $f;
	return undef;
}

# a statement embedding $n texts of about 250 word-piece tokens each
sub long_embed_sql
{
	my ($n) = @_;
	return "SELECT count(*) FROM llm_embed_batch(ARRAY(SELECT 'text ' || i || "
	  . "repeat(' cat', 250) FROM generate_series(1, $n) i))";
}

# --- 1. llm.threads = 0: one embedding thread per CPU
my $pid = LlmNode::worker_pid($node);
ok(defined $pid, 'worker runs');
my $before = n_tasks($pid);
is($node->safe_psql('postgres', "SELECT array_length(llm_embed('hello'), 1) > 0"),
	't', 'first embedding');
my $after = n_tasks($pid);
diag "worker threads: $before before the first embedding, $after after ($ncpu CPUs)";
SKIP:
{
	skip 'one CPU: one thread either way', 1 if $ncpu < 2;
	is($after - $before, $ncpu - 1,
		'llm.threads = 0: the embedding context adds one thread per CPU but the worker\'s own');
}

# --- 2. the worker's thread blocks neither SIGTERM nor SIGQUIT while it works
my $term_bit = 1 << (15 - 1);
my $quit_bit = 1 << (3 - 1);
my $t0 = time();
my $s = LlmNode::start_psql($node, long_embed_sql(64));
my ($samples, $blocked) = (0, 0);
while ($s->[0]->pumpable)
{
	my $m = sigblk($pid);
	if (defined $m)
	{
		$samples++;
		$blocked++ if ($m & $term_bit) || ($m & $quit_bit);
	}
	$s->[0]->pump_nb;
	usleep(2_000);
}
$s->[0]->finish;
my $full = time() - $t0;
chomp ${ $s->[1] };
is(${ $s->[1] }, '64', 'long embedding ran') or note ${ $s->[2] };
diag sprintf('64 texts took %.2f s; %d SigBlk samples, %d with SIGTERM or SIGQUIT blocked',
	$full, $samples, $blocked);
cmp_ok($samples, '>', 20, 'SigBlk sampled during the work');
is($blocked, 0, 'SIGTERM and SIGQUIT never blocked in the worker while it embeds');

# --- 3. pg_terminate_backend during a chunk stops it promptly
$s = LlmNode::start_psql($node, long_embed_sql(64));
usleep(int($full * 0.25 * 1e6));
my $t1 = time();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $gone = LlmNode::wait_gone($pid, $t1, 60, 5_000);
LlmNode::finish_psql($s, 30);
ok(defined $gone, 'the worker exited after pg_terminate_backend');
$gone //= 60;
diag sprintf('worker gone %.2f s after the signal (a full run takes %.2f s)', $gone, $full);
# the chunk running at the signal is stopped between batches, and its
# texts fail with that reason (without the check the worker would finish
# the chunk first, and texts still queued simply wait for the next worker)
like(
	${ $s->[2] },
	qr/stopped while it computed the embedding/,
	'the embedding session got the error of a chunk stopped halfway');

ok( $node->poll_query_until(
		'postgres',
		"SELECT worker_pid IS NOT NULL AND worker_pid <> $pid FROM llm_stats"),
	'a new worker started');
is($node->safe_psql('postgres', long_embed_sql(4)), '4', 'the new worker serves embeddings');
ok(LlmNode::queue_drains($node, 5), 'no slot left behind');

$node->stop;
done_testing(11);
