# 006_fairness.pl - one session cannot starve the others (issue 16,
# point 6):
#   - a large llm_generate_batch holds at most half of llm.queue_size;
#   - a request of another session is admitted before the rest of that
#     batch (the worker takes from the backend served longest ago);
#   - a flood of large llm_tokenize calls from several sessions does not
#     stop the batch steps of a running generation;
#   - embedding texts count like generation requests: one llm_embed_batch
#     holds at most half of llm.queue_size, and the worker takes at most
#     Max(llm.max_batch, 64) texts out of the queue at once (the rest wait
#     there, where the per-backend share applies).
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

my $node = LlmNode::new_node('fair', "llm.max_batch = 1\nllm.queue_size = 8\n");
$node->safe_psql('postgres', "SELECT llm_generate('Hello', max_tokens => 1)");

sub stat1
{
	my ($col) = @_;
	return $node->safe_psql('postgres', "SELECT $col FROM llm_stats");
}

# --- a batch of 12 prompts, one running at a time
my $x = $node->background_psql('postgres', on_error_stop => 0);
LlmNode::start_long_query($x,
	"SELECT count(*) FROM llm_generate_batch(array_fill('Once upon a time'::text, ARRAY[12]), max_tokens => 24)"
);
my $max_slots = 0;
my $deadline = time() + 1.5;
while (time() < $deadline)
{
	my $u = stat1('slots_in_use');
	$max_slots = $u if $u > $max_slots;
	usleep(20_000);
}
ok($max_slots >= 2 && $max_slots <= 4,
	"a batch holds at most half of the 8 slots (at most $max_slots seen)");

# --- another session's request goes before the rest of the batch
my $r0 = stat1('requests');
my $t0 = time();
$node->safe_psql('postgres', "SELECT llm_generate('Hi', max_tokens => 24)");
my $waited = time() - $t0;
my $batch_done = stat1('requests') - $r0 - 1;
ok($batch_done <= 2,
	"the other session waited for $batch_done of the batch's requests ("
	  . sprintf('%.2f', $waited) . ' s), not for the batch');
$x->query_safe('SELECT 1');    # the batch itself completes
$x->quit;
ok(LlmNode::queue_drains($node, 10), 'queue drained after the batch');

# --- a tokenize flood does not stop the steps of a running generation
# (a batch with room: with llm.max_batch = 1 and one generation running
# nothing else would be admitted at all)
$node->stop;
$node = LlmNode::new_node('flood', "llm.queue_size = 16\n");
$node->safe_psql('postgres', "SELECT llm_generate('Hello', max_tokens => 1)");
my $g = $node->background_psql('postgres', on_error_stop => 0);
LlmNode::start_long_query($g,
	"SELECT length(llm_generate('Once upon a time', max_tokens => 900)) >= 0");
my $s_start = stat1('steps');
$deadline = time() + 10;
usleep(20_000) while stat1('steps') == $s_start && time() < $deadline;

my @flood = map { $node->background_psql('postgres', on_error_stop => 0) } 1 .. 6;
LlmNode::start_long_query($_,
	"DO \$\$ BEGIN WHILE clock_timestamp() < now() + interval '4 s' LOOP "
	  . "PERFORM llm_tokenize(repeat('word ', 200000)); END LOOP; END \$\$")
  for @flood;
usleep(500_000);
my $tok0 = stat1('queue_depth');
my $s0 = stat1('steps');
usleep(2_000_000);
my $s1 = stat1('steps');
ok($s1 - $s0 >= 5,
	"batch steps go on during the flood (" . ($s1 - $s0) . " steps in 2 s, queue depth $tok0)");
$_->query_safe('SELECT 1') for @flood;
$_->quit for @flood;
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%max_tokens => 900%' AND pid <> pg_backend_pid()"
);
$g->quit;

$node->stop;

# --- embedding texts: the per-backend share and the worker's limit
SKIP:
{
	skip 'no embedding model (LLM_EMBED_NAME)', 3 unless $LlmNode::embed_name;
	$node = LlmNode::new_node('embedfair', "llm.queue_size = 400\nllm.max_batch = 1\n");
	$node->safe_psql('postgres', "SELECT array_length(llm_embed('warm up'), 1)");
	my $batch = "SELECT count(*) FROM llm_embed_batch(ARRAY(SELECT i || repeat(' word', 200)"
	  . " FROM generate_series(1, 300) i))";

	# sample (slots_in_use, running) for secs seconds; returns both maxima
	my $sample = sub {
		my ($secs) = @_;
		my ($max_use, $max_run) = (0, 0);
		my $until = time() + $secs;
		while (time() < $until)
		{
			my ($u, $r) = split /\|/,
			  $node->safe_psql('postgres', 'SELECT slots_in_use, running FROM llm_stats');
			$max_use = $u if $u > $max_use;
			$max_run = $r if $r > $max_run;
			usleep(10_000);
		}
		return ($max_use, $max_run);
	};

	my $e1 = $node->background_psql('postgres', on_error_stop => 0);
	LlmNode::start_long_query($e1, $batch);
	my ($use1, $run1) = $sample->(1.0);
	ok($use1 >= 65 && $use1 <= 200,
		"a batch of 300 texts holds at most half of the 400 slots (at most $use1 seen)");

	my $e2 = $node->background_psql('postgres', on_error_stop => 0);
	LlmNode::start_long_query($e2, $batch);
	my ($use2, $run2) = $sample->(1.5);
	my $run = $run1 > $run2 ? $run1 : $run2;
	ok($run >= 1 && $run <= 64,
		"the worker takes at most 64 texts from the queue at once (at most $run running,"
		  . " $use2 slots in use)");
	$e1->query_safe('SELECT 1');
	$e2->query_safe('SELECT 1');
	$e1->quit;
	$e2->quit;
	ok(LlmNode::queue_drains($node, 30), 'queue drained after the embedding batches');
	$node->stop;
}
done_testing(7);
