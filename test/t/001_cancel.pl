# 001_cancel.pl - cancel requests and statement_timeout interrupt a
# generation at once; no request slot is left behind.
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
my $repeat = $ENV{LLM_TAP_REPEAT} // 100;

# max_batch 2: a third request has to wait in the queue
my $node = LlmNode::new_node('cancel', "llm.max_batch = 2\n");
my $long =
  "SELECT llm_generate('1, 2, 3, 4, 5,', max_tokens => 900)";
my $greedy = "SELECT llm_generate('The capital of France is', max_tokens => 8)";
my $expected = $node->safe_psql('postgres', $greedy);
isnt($expected, '', 'greedy generation works');

# ---------------------------------------------------------- statement_timeout
my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->set_query_timer_restart;
$s->query_safe("SET statement_timeout = '200ms'");
my ($worst, $bad) = (0, 0);
for my $i (1 .. $repeat)
{
	$s->{stderr} = '';
	my $t0 = time();
	$s->query($long);
	my $elapsed = time() - $t0 - 0.2;
	$worst = $elapsed if $elapsed > $worst;
	$bad++
	  unless $s->{stderr} =~ /canceling statement due to statement timeout/;
}
is($bad, 0, "statement_timeout interrupts the generation ($repeat times)");
cmp_ok($worst, '<', 1.0,
	sprintf('... each time within 1 s of the timeout (worst %.3f s)', $worst));
ok(LlmNode::queue_drains($node, 5), 'queue_depth and slots back to 0');

# ---------------------------------------------------------- pg_cancel_backend
$s->{stderr} = '';
$s->query_safe('SET statement_timeout = 0');
my $pid = $s->query_safe('SELECT pg_backend_pid()');
($worst, $bad) = (0, 0);
for my $i (1 .. $repeat)
{
	$s->{stderr} = '';
	LlmNode::start_long_query($s, $long);
	# wait until the backend waits for the worker
	my $deadline = time() + 10;
	while (time() < $deadline)
	{
		last
		  if $node->safe_psql('postgres',
			"SELECT wait_event_type FROM pg_stat_activity WHERE pid = $pid") eq
		  'Extension';
		usleep(5_000);
	}
	my $t0 = time();
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	$s->query('SELECT 1');
	my $elapsed = time() - $t0;
	$worst = $elapsed if $elapsed > $worst;
	$bad++ unless $s->{stderr} =~ /canceling statement due to user request/;
}
is($bad, 0, "pg_cancel_backend interrupts the generation ($repeat times)");
cmp_ok($worst, '<', 1.0,
	sprintf('... each time within 1 s (worst %.3f s)', $worst));
ok(LlmNode::queue_drains($node, 5), 'queue_depth and slots back to 0');

# ---------------------------------------------- a request waiting in the queue
my @busy = map { $node->background_psql('postgres', on_error_stop => 0) } 1 .. 2;
LlmNode::start_long_query($_, $long) for @busy;
$node->poll_query_until('postgres', 'SELECT running = 2 FROM llm_stats')
  or die 'two requests never ran';
$s->{stderr} = '';
$s->query_safe("SET statement_timeout = '300ms'");
$s->{stderr} = '';
my $t0 = time();
$s->query($long);
my $elapsed = time() - $t0;
like($s->{stderr}, qr/statement timeout/, 'a queued request times out');
cmp_ok($elapsed, '<', 1.3, '... promptly');
is($node->safe_psql('postgres', 'SELECT queue_depth, slots_in_use FROM llm_stats'),
	'2|2', '... and gives its slot back while others run');

# a batch is cancelled as a whole
$s->{stderr} = '';
$s->query(
	"SELECT count(*) FROM llm_generate_batch(array_fill('1, 2, 3, 4, 5,'::text, ARRAY[10]), max_tokens => 900)"
);
like($s->{stderr}, qr/statement timeout/, 'a batch times out');
is($node->safe_psql('postgres', 'SELECT queue_depth, slots_in_use FROM llm_stats'),
	'2|2', '... and gives all its slots back');

# a client backend that is terminated gives its slot back
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND backend_type = 'client backend'"
);
ok(LlmNode::queue_drains($node, 5), 'terminated backends leave no slot behind');
$_->{run}->kill_kill for @busy;

# embeddings: a long batch is interrupted too, and its slots come back
# within one embedding chunk of the worker
SKIP:
{
	skip 'no embedding model (LLM_EMBED_NAME)', 4 unless $LlmNode::embed_name;
	$s->{stderr} = '';
	$s->query_safe("SET statement_timeout = '300ms'");
	$s->{stderr} = '';
	$t0 = time();
	$s->query(
		"SELECT count(*) FROM llm_embed_batch(array_fill(repeat('word ', 20), ARRAY[3000]))");
	$elapsed = time() - $t0;
	like($s->{stderr}, qr/statement timeout/, 'an embedding batch times out');
	cmp_ok($elapsed, '<', 1.3, '... promptly');
	ok(LlmNode::queue_drains($node, 10), '... and leaves no slot behind');
	is($node->safe_psql('postgres', "SELECT array_length(llm_embed('still works'), 1)"),
		'384', 'embedding still works');
}

# everything still works
is($node->safe_psql('postgres', $greedy), $expected, 'generation still works');
is($node->safe_psql('postgres', 'SELECT count(*) FROM llm_generate_batch(ARRAY[\'a\', \'b\'], max_tokens => 2)'),
	'2', 'batch still works');
$s->quit;
$node->stop;
ok(!$node->log_contains('TRAP|PANIC|terminated by signal'), 'no crash in the server log');

done_testing(20);
