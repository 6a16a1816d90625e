# 012_tokenize_interrupt.pl - a long prompt's tokenization serves
# interrupts (issue 17 point 7): the llm worker asks its interrupt check
# every few thousand pre-tokenizer pieces, words and merges, so
# pg_terminate_backend during the tokenization of a prompt of many
# megabytes ends the worker well before the tokenization would have
# finished, the request fails with the shutdown error (SQLSTATE 57P01),
# and a new worker serves requests again.
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

my $mb = 24;
my $node = LlmNode::new_node('tokint', "llm.max_input_size = '64MB'\n");

# a generation whose prompt is $mb MB of varied English: it tokenizes for
# a while and then fails, the prompt being far longer than the context
my $sql =
	"SELECT llm_generate(repeat('The quick brown fox, 12 lazy dogs; naive cafe (x+y). ', "
  . int($mb * 1024 * 1024 / 53) . "), max_tokens => 1)";

# the model is loaded before anything is timed
is($node->safe_psql('postgres', "SELECT length(llm_generate('Hi', max_tokens => 1)) >= 0"),
	't', 'the model answers');
my $pid = LlmNode::worker_pid($node);
ok(defined $pid, 'worker runs');

# --- 1. the whole tokenization, to the "too long" error
my $t0 = time();
my ($rc, $out, $err) = $node->psql('postgres', $sql);
my $full = time() - $t0;
like($err, qr/prompt is too long/, "a $mb MB prompt is tokenized, then refused as too long");
diag sprintf('%d MB prompt: %.2f s to the error', $mb, $full);

# --- 2. pg_terminate_backend a third of the way into the tokenization
my $s = LlmNode::start_psql($node, $sql, '-v', 'VERBOSITY=verbose');
usleep(int($full * 0.33 * 1e6));
my $t1 = time();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $gone = LlmNode::wait_gone($pid, $t1, 120, 2_000);
LlmNode::finish_psql($s, 30);
ok(defined $gone, 'the worker exited after pg_terminate_backend');
$gone //= 120;
diag sprintf('worker gone %.3f s after the signal; the tokenization had %.2f s to go',
	$gone, $full * 0.67);
# without the check the worker finishes the tokenization first (about
# two thirds of the full time) and the request fails as too long
cmp_ok($gone, '<', $full * 0.25, 'the worker exits well before the tokenization would end');
like(${ $s->[2] }, qr/57P01: could not start the generation/,
	'the request fails with SQLSTATE 57P01');
like(${ $s->[2] }, qr/stopped while it tokenized the prompt/,
	'the error says the worker was stopped during the tokenization');
unlike(${ $s->[2] }, qr/prompt is too long/, 'the tokenization did not run to its end');

ok( $node->poll_query_until(
		'postgres',
		"SELECT worker_pid IS NOT NULL AND worker_pid <> $pid FROM llm_stats"),
	'a new worker started');
is($node->safe_psql('postgres', "SELECT length(llm_generate('Hi', max_tokens => 1)) >= 0"),
	't', 'the new worker generates');
ok(LlmNode::queue_drains($node, 5), 'no slot left behind');

$node->stop;
done_testing(11);
