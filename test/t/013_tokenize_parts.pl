# 013_tokenize_parts.pl - a long prompt is tokenized in parts between
# decode steps (issue 16 point 4): while one session generates, another
# submits a 4 MB prompt, then llm_tokenize()s the same text; the llm
# worker tokenizes it 64 kB of work at a time and runs the generating
# session's step after each part, so llm_stats.steps keeps advancing
# during the whole tokenization. Tokenized
# in one piece (as before), the steps stop until it is over: only the one
# or two steps at the edges of the window are counted.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use LlmNode;

LlmNode::require_model();

my $mb = 4;
my $node = LlmNode::new_node('tokparts', "llm.max_input_size = '16MB'\n");

# the big request and the step counter read in one statement, so that the
# window is exactly the request's: steps before, the request (a prompt far
# longer than the context: tokenized to the end, then refused), steps after
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION big_prompt_window(mb int, OUT steps bigint, OUT secs float8, OUT err text)
LANGUAGE plpgsql AS $$
DECLARE
	s0 bigint;
	t0 timestamptz;
	p text := repeat('The quick brown fox, 12 lazy dogs; naive cafe (x+y). ',
					 mb * 1024 * 1024 / 53);
BEGIN
	SELECT l.steps INTO s0 FROM llm_stats l;
	t0 := clock_timestamp();
	BEGIN
		PERFORM llm_generate(p, max_tokens => 1);
		err := 'no error';
	EXCEPTION WHEN OTHERS THEN
		err := SQLERRM;
	END;
	secs := extract(epoch FROM clock_timestamp() - t0);
	SELECT l.steps - s0 INTO steps FROM llm_stats l;
END $$;
CREATE FUNCTION big_tokenize_window(mb int, OUT steps bigint, OUT secs float8, OUT n int)
LANGUAGE plpgsql AS $$
DECLARE
	s0 bigint;
	t0 timestamptz;
	p text := repeat('The quick brown fox, 12 lazy dogs; naive cafe (x+y). ',
					 mb * 1024 * 1024 / 53);
BEGIN
	SELECT l.steps INTO s0 FROM llm_stats l;
	t0 := clock_timestamp();
	n := cardinality(llm_tokenize(p));
	secs := extract(epoch FROM clock_timestamp() - t0);
	SELECT l.steps - s0 INTO steps FROM llm_stats l;
END $$;
});

# the model is loaded before anything is timed
is($node->safe_psql('postgres', "SELECT length(llm_generate('Hi', max_tokens => 1)) >= 0"),
	't', 'the model answers');

# --- the big prompt alone: how long its tokenization takes
my ($steps, $secs, $err) = split /\|/,
  $node->safe_psql('postgres', "SELECT * FROM big_prompt_window($mb)");
like($err, qr/prompt is too long/, "a $mb MB prompt is tokenized, then refused as too long");
diag sprintf('%d MB prompt alone: %.3f s, %d steps', $mb, $secs, $steps);

my ($tsteps, $tsecs, $n_alone) = split /\|/,
  $node->safe_psql('postgres', "SELECT * FROM big_tokenize_window($mb)");
diag sprintf('llm_tokenize of %d MB alone: %.3f s, %d ids', $mb, $tsecs, $n_alone);

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
my $before = $node->safe_psql('postgres', 'SELECT steps FROM llm_stats');

# --- a prompt without a place to cut (4 MB of one letter: one
# pre-tokenizer piece) while it generates: its merges go on over rounds
# of at most about 20 ms, so the generation never stands still for long.
# A third session samples llm_stats.steps every 5 ms for 1.5 s and
# reports the longest time without a step. (The merges of the piece were
# once one part of several seconds.)
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION max_stall(secs float8) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	s0 bigint;
	s bigint;
	t_last timestamptz := clock_timestamp();
	t_end timestamptz := clock_timestamp() + secs * interval '1 second';
	worst float8 := 0;
BEGIN
	SELECT steps INTO s0 FROM llm_stats;
	WHILE clock_timestamp() < t_end LOOP
		PERFORM pg_sleep(0.005);
		SELECT steps INTO s FROM llm_stats;
		IF s <> s0 THEN
			worst := greatest(worst, extract(epoch FROM clock_timestamp() - t_last));
			t_last := clock_timestamp();
			s0 := s;
		END IF;
	END LOOP;
	RETURN greatest(worst, extract(epoch FROM clock_timestamp() - t_last));
END $$;
});
my ($sout, $serr) = ('', '');
my $sampler = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', 'SELECT max_stall(1.5)' ],
	'>', \$sout, '2>', \$serr);
my $werr = $node->psql('postgres',
	"SELECT llm_generate(repeat('a', $mb * 1024 * 1024), max_tokens => 1)", stderr => \my $wmsg);
$sampler->finish;
chomp $sout;
diag sprintf('%d MB of one letter beside a generation: longest time without a step %.3f s',
	$mb, $sout || -1);
like($wmsg, qr/prompt is too long/, 'the one-word prompt is tokenized to its end, then refused');
ok($sout ne '' && $sout < 0.4, "no step waited over 0.4 s meanwhile ($sout s)");

# --- the big prompt while it generates
($steps, $secs, $err) = split /\|/,
  $node->safe_psql('postgres', "SELECT * FROM big_prompt_window($mb)");
like($err, qr/prompt is too long/, 'the big prompt is tokenized to its end meanwhile');
my $running = $node->safe_psql('postgres',
	"SELECT count(*) FROM llm_requests WHERE state = 'running'");
diag sprintf('%d MB prompt beside a generation: %.3f s, %d steps in that time (%.1f ms a step)',
	$mb, $secs, $steps, $steps > 0 ? 1000 * $secs / $steps : 0);
is($running, '1', 'the generation was still running when the big prompt was done');

# tokenized in parts of 64 kB of work, a 4 MB prompt takes over 100 parts
# with a step after each; in one piece the window holds at most the steps
# at its two edges
cmp_ok($steps, '>=', 20, 'the generation kept stepping while the big prompt was tokenized');

# the same for llm_tokenize of the text
my $n_beside;
($tsteps, $tsecs, $n_beside) = split /\|/,
  $node->safe_psql('postgres', "SELECT * FROM big_tokenize_window($mb)");
diag sprintf('llm_tokenize of %d MB beside a generation: %.3f s, %d steps, %d ids',
	$mb, $tsecs, $tsteps, $n_beside);
is($n_beside, $n_alone, 'llm_tokenize gives as many ids beside the generation');
cmp_ok($tsteps, '>=', 20, 'the generation kept stepping while llm_tokenize ran');

$gen->finish;
like($gout, qr/^\d+$/, 'the generation completes');
ok(LlmNode::queue_drains($node, 5), 'no slot left behind');

$node->stop;
done_testing(12);
