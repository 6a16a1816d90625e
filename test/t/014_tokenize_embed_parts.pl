# 014_tokenize_embed_parts.pl - llm_tokenize() on an embedding model goes
# in parts between decode steps too (issue 16 point 4): while one session
# generates, another llm_tokenize()s a 4 MB text with the default
# embedding model (all-MiniLM-L6-v2, WordPiece); the llm worker runs an
# llm_embed_tok_job for it about 64 kB of work (at most about 20 ms) a
# round and the generating session's step after each round, so
# llm_stats.steps keeps advancing during the whole tokenization.
# Tokenized in one piece at admission (as before), the steps stop until it
# is over: the window then holds only the one or two steps at its edges.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use LlmNode;

LlmNode::require_model();
plan skip_all => 'no default embedding model (LLM_EMBED_NAME)'
  if $LlmNode::embed_name eq '';

my $mb    = 4;
my $emb   = $LlmNode::embed_name;
my $node  = LlmNode::new_node('tokembparts', "llm.max_input_size = '16MB'\n");
my $sent  = 'The quick brown fox, 12 lazy dogs; naive cafe (x+y). ';
my $reps  = int($mb * 1024 * 1024 / length($sent));

# the tokenization and the step counter read in one statement, so that
# the window is exactly the request's
$node->safe_psql(
	'postgres', qq{
CREATE FUNCTION emb_tokenize_window(reps int, OUT steps bigint, OUT secs float8, OUT n int)
LANGUAGE plpgsql AS \$\$
DECLARE
	s0 bigint;
	t0 timestamptz;
	p text := repeat('$sent', reps);
BEGIN
	SELECT l.steps INTO s0 FROM llm_stats l;
	t0 := clock_timestamp();
	n := cardinality(llm_tokenize(p, model => '$emb'));
	secs := extract(epoch FROM clock_timestamp() - t0);
	SELECT l.steps - s0 INTO steps FROM llm_stats l;
END \$\$;
});

# both models are loaded before anything is timed
is($node->safe_psql('postgres', "SELECT length(llm_generate('Hi', max_tokens => 1)) >= 0"),
	't', 'the generation model answers');
my $n_one = $node->safe_psql('postgres',
	"SELECT cardinality(llm_tokenize('$sent', model => '$emb'))");
cmp_ok($n_one, '>', 2, "the embedding model tokenizes one sentence ($n_one ids)");

# --- alone: WordPiece splits at white space, so the 4 MB repetition has
# the sentence's ids once per copy between one [CLS] and one [SEP]
my ($steps, $secs, $n_alone) = split /\|/,
  $node->safe_psql('postgres', "SELECT * FROM emb_tokenize_window($reps)");
diag sprintf('llm_tokenize of %d MB on %s alone: %.3f s, %d ids', $mb, $emb, $secs, $n_alone);
is($n_alone, 2 + $reps * ($n_one - 2),
	"the $mb MB text has the ids of $reps sentences between [CLS] and [SEP]");

# --- a long generation in another session (greedy counting: no early end)
my ($gout, $gerr) = ('', '');
my $gen = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		"SELECT length(llm_generate('1, 2, 3, 4, 5, 6, 7, 8, 9, 10,', max_tokens => 900))"
	],
	'>', \$gout, '2>', \$gerr);
ok( $node->poll_query_until(
		'postgres', "SELECT steps >= 20 FROM llm_stats WHERE steps > 0 AND "
		  . "(SELECT count(*) FROM llm_requests WHERE state = 'running') > 0"),
	'the generating session is under way');

# --- the same text beside it
my $n_beside;
($steps, $secs, $n_beside) = split /\|/,
  $node->safe_psql('postgres', "SELECT * FROM emb_tokenize_window($reps)");
my $running = $node->safe_psql('postgres',
	"SELECT count(*) FROM llm_requests WHERE state = 'running'");
diag sprintf('llm_tokenize of %d MB on %s beside a generation: %.3f s, %d steps, %d ids',
	$mb, $emb, $secs, $steps, $n_beside);
is($n_beside, $n_alone, 'llm_tokenize gives the same ids beside the generation');
is($running, '1', 'the generation was still running when the text was done');
cmp_ok($steps, '>=', 20, 'the generation kept stepping while llm_tokenize ran');

$gen->finish;
like($gout, qr/^\d+$/, 'the generation completes');
ok(LlmNode::queue_drains($node, 5), 'no slot left behind');

$node->stop;
done_testing(9);
