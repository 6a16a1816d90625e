# 008_unload_running.pl - unloading a model while requests run on it: the
# running generation (a single call, and a batched UPDATE) fails at once
# with "model ... was unloaded", no slot is left, nothing is written, and
# the default model - which shares the unloaded name's weights - keeps
# answering with the same text as before.
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

my $node = LlmNode::new_node('unload', "llm.queue_size = 64\n");
my $greedy = "SELECT llm_generate('The capital of France is', max_tokens => 8)";
my $before = $node->safe_psql('postgres', $greedy);
isnt($before, '', 'the default model answers');

# wait until the backend $pid has a running request on llm_requests
sub wait_running
{
	my ($pid) = @_;
	my $deadline = time() + 10;
	while (time() < $deadline)
	{
		return 1
		  if $node->safe_psql('postgres',
			"SELECT count(*) > 0 FROM llm_requests WHERE pid = $pid AND state = 'running' "
			  . "AND generated_tokens > 0") eq 't';
		usleep(10_000);
	}
	return 0;
}

for my $case ('call', 'update')
{
	$node->safe_psql('postgres',
		"SELECT llm_load_model('second', '$LlmNode::model_file')");
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	my $sql;
	if ($case eq 'call')
	{
		$sql = "SELECT llm_generate('1, 2, 3,', max_tokens => 900, model => 'second')";
	}
	else
	{
		$s->query_safe(
			"CREATE TABLE t_$case AS SELECT g AS id, 'Line ' || g || ' reads' AS body, "
			  . "NULL::text AS summary FROM generate_series(1, 100) g");
		$sql = "UPDATE t_$case SET summary = llm_generate(body, max_tokens => 300, model => 'second')";
	}
	LlmNode::start_long_query($s, $sql);
	ok(wait_running($pid), "$case: a request on the second model runs");
	$node->safe_psql('postgres', "SELECT llm_unload_model('second')");
	my $t0 = time();
	$s->{stderr} = '';
	$s->query('SELECT 1');
	my $elapsed = time() - $t0;
	like($s->{stderr}, qr/model "second" was unloaded/,
		"$case: the running request fails with the unload");
	cmp_ok($elapsed, '<', 5, sprintf("$case: ... at once (%.2f s)", $elapsed));
	ok(LlmNode::queue_drains($node, 5), "$case: no slot is left");
	if ($case eq 'update')
	{
		is($node->safe_psql('postgres', "SELECT count(summary) FROM t_$case"),
			'0', 'update: nothing was written');
	}
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM llm_models WHERE name = 'second' AND loaded"),
		'0', "$case: the second name is gone");
	is($node->safe_psql('postgres', $greedy), $before,
		"$case: the default model still gives the same text");
	$s->quit;
}

$node->stop;
done_testing(14);
