# 007_rowbatch.pl - the row-batching node under concurrency: a cancelled
# or timed-out 500-row UPDATE leaves no request behind and writes
# nothing, llm_requests shows the batch while it runs, an EvalPlanQual
# recheck (concurrent update in READ COMMITTED) generates from the new
# row version, and four sessions running batched UPDATEs at once get the
# results of row-by-row execution.
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

my $node = LlmNode::new_node('rowbatch', "llm.queue_size = 128\nllm.max_batch = 16\n");
$node->safe_psql(
	'postgres', q{
CREATE TABLE big (id int PRIMARY KEY, body text, summary text);
INSERT INTO big SELECT g, 'Line ' || g || ' of the report says', NULL
  FROM generate_series(1, 500) g;
});

# Wait until $pid has at least $n requests in llm_requests (10 s at most);
# returns the count seen.
sub wait_requests
{
	my ($pid, $n) = @_;
	my $deadline = time() + 10;
	my $seen = 0;
	while (time() < $deadline)
	{
		$seen = $node->safe_psql('postgres',
			"SELECT count(*) FROM llm_requests WHERE pid = $pid");
		return $seen if $seen >= $n;
		usleep(10_000);
	}
	return $seen;
}

# ------------------------------------------------ cancel mid-batch
my $s = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $s->query_safe('SELECT pg_backend_pid()');
my $update = 'UPDATE big SET summary = llm_generate(body, max_tokens => 200)';
LlmNode::start_long_query($s, $update);
my $seen = wait_requests($pid, 64);
is($seen, 64, 'llm_requests shows the 64 requests of the first batch');
# progress is visible while the batch runs
my $deadline = time() + 10;
my $progress = 0;
while (time() < $deadline)
{
	$progress = $node->safe_psql('postgres',
		"SELECT count(*) FROM llm_requests WHERE pid = $pid AND state = 'running' "
		  . "AND prompt_tokens > 0 AND generated_tokens > 0 AND max_tokens = 200");
	last if $progress > 0;
	usleep(20_000);
}
cmp_ok($progress, '>', 0, '... with running requests and their progress');
$s->{stderr} = '';
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$s->query('SELECT 1');
like($s->{stderr}, qr/canceling statement due to user request/,
	'the batched UPDATE is cancelled');
ok(LlmNode::queue_drains($node, 5), 'no slot is left after the cancel');
is($node->safe_psql('postgres', 'SELECT count(*) FROM llm_requests'),
	'0', 'llm_requests is empty again');
is($node->safe_psql('postgres', 'SELECT count(summary) FROM big'),
	'0', 'the cancelled UPDATE wrote nothing');

# ------------------------------------------------ statement_timeout
$s->{stderr} = '';
$s->query_safe("SET statement_timeout = '1s'");
my $t0 = time();
$s->query($update);
my $elapsed = time() - $t0;
like($s->{stderr}, qr/canceling statement due to statement timeout/,
	'statement_timeout stops a batched UPDATE');
cmp_ok($elapsed, '<', 3, sprintf('... promptly (%.2f s)', $elapsed));
ok(LlmNode::queue_drains($node, 5), 'no slot is left after the timeout');
$s->{stderr} = '';
$s->query_safe('RESET statement_timeout');

# ------------------------------------------------ EvalPlanQual
$node->safe_psql(
	'postgres', q{
CREATE TABLE epq (id int PRIMARY KEY, body text, summary text);
INSERT INTO epq SELECT g, 'Entry ' || g || ' is about', NULL FROM generate_series(1, 10) g;
});
my $want_new = $node->safe_psql('postgres',
	"SELECT llm_generate('Entry 5 is about the changes of', max_tokens => 6)");
my $want_old = $node->safe_psql('postgres',
	"SELECT llm_generate('Entry 4 is about', max_tokens => 6)");
my $a = $node->background_psql('postgres', on_error_stop => 1);
$a->query_safe('BEGIN');
$a->query_safe(
	"UPDATE epq SET body = 'Entry 5 is about the changes of' WHERE id = 5");
my $b = $node->background_psql('postgres', on_error_stop => 0);
my $bpid = $b->query_safe('SELECT pg_backend_pid()');
LlmNode::start_long_query($b,
	'UPDATE epq SET summary = llm_generate(body, max_tokens => 6)');
# b waits for a's row lock once its batch is done
$node->poll_query_until('postgres',
	"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $bpid")
  or die 'the batched UPDATE did not reach the locked row';
$a->query_safe('COMMIT');
$b->query_safe('SELECT 1');
is($node->safe_psql('postgres', 'SELECT summary FROM epq WHERE id = 5'),
	$want_new, 'the EvalPlanQual recheck generated from the new row version');
is($node->safe_psql('postgres', 'SELECT summary FROM epq WHERE id = 4'),
	$want_old, 'the other rows have their own results');
is($node->safe_psql('postgres', 'SELECT count(summary) FROM epq'),
	'10', 'every row was updated once');
$a->quit;
$b->quit;

# ------------------------------------------------ four sessions at once
for my $k (1 .. 4)
{
	$node->safe_psql(
		'postgres', qq{
CREATE TABLE four_$k (id int PRIMARY KEY, body text, summary text);
INSERT INTO four_$k SELECT g, 'Topic $k.' || g || ' covers', NULL FROM generate_series(1, 48) g;
SET llm.batch_rows = 1;
CREATE TABLE ref_$k AS SELECT id, llm_generate(body, max_tokens => 8) AS summary FROM four_$k;
});
}
my $steps0 = $node->safe_psql('postgres', 'SELECT steps FROM llm_stats');
my @sessions = map { $node->background_psql('postgres', on_error_stop => 1) } 1 .. 4;
$t0 = time();
for my $k (1 .. 4)
{
	LlmNode::start_long_query($sessions[ $k - 1 ],
		"UPDATE four_$k SET summary = llm_generate(body, max_tokens => 8)");
}
$_->query_safe('SELECT 1') for @sessions;
my $wall = time() - $t0;
my $differ = 0;
for my $k (1 .. 4)
{
	$differ += $node->safe_psql('postgres',
		"SELECT count(*) FROM four_$k f JOIN ref_$k r USING (id) "
		  . "WHERE f.summary IS DISTINCT FROM r.summary");
}
is($differ, 0, 'four concurrent batched UPDATEs give the row-by-row results');
my $r = $node->safe_psql('postgres',
	"SELECT steps - $steps0, avg_batch FROM llm_stats");
my ($steps) = split /\|/, $r;
# 192 rows of 8 tokens row by row would take ~ 192 * 8 steps; batched at
# 16 sequences a step, ~ 192 / 16 * 9
cmp_ok($steps, '<', 192 * 8 / 4,
	sprintf('... in %d engine steps (%.1f s)', $steps, $wall));
$_->quit for @sessions;
$s->quit;
ok(LlmNode::queue_drains($node, 5), 'queue empty at the end');

$node->stop;
done_testing(15);
