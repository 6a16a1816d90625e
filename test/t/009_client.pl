# 009_client.pl - a session's requests end with its client and its
# cancel (issue 17):
#  1. a client killed with SIGKILL while its generation runs: the backend
#     sees the closed connection within about a second (no
#     client_connection_check_interval needed), exits, and the worker
#     stops generating for it;
#  2. a cancelled 3,000-text llm_embed_batch gives all its queue slots
#     back at once, not after the worker's current embedding chunk;
#  3. a result too large for the backend's memory (the backend runs under
#     an address-space limit set with prlimit) fails while it is copied
#     out of shared memory (the allocation of its copy, or the mapping of
#     the DSA segment holding it, whichever needs memory first), and the
#     same session still honours
#     statement_timeout and pg_cancel_backend afterwards.
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

# a context for a 3,000-token generation; inputs of 16 MB
my $node = LlmNode::new_node('client',
	"llm.ctx_size = 4096\nllm.max_input_size = '16MB'\n");

# Poll $sql (one value) until it equals $want or $secs pass; returns the
# seconds it took, or undef.
sub wait_for
{
	my ($sql, $want, $secs) = @_;
	my $t0 = time();
	while (time() - $t0 < $secs)
	{
		return time() - $t0 if $node->safe_psql('postgres', $sql) eq $want;
		usleep(20_000);
	}
	return undef;
}

# ------------------------------------------------- 1. client killed by SIGKILL
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[
		'psql', '-X', '-d', $node->connstr('postgres'), '-c',
		"SELECT length(llm_generate('1, 2, 3, 4, 5,', max_tokens => 3000))"
	],
	'>', \$out, '2>', \$err);
ok( defined wait_for(
		"SELECT count(*) FROM llm_requests WHERE kind = 'generate' AND state = 'running' AND generated_tokens > 10",
		'1', 60),
	'the long generation runs');
my $bpid = $node->safe_psql('postgres',
	"SELECT pid FROM llm_requests WHERE kind = 'generate'");
my $gen0 = $node->safe_psql('postgres',
	"SELECT generated_tokens FROM llm_requests WHERE pid = $bpid");
$h->signal('KILL');
eval { $h->finish; };
my $t = wait_for(
	"SELECT (SELECT count(*) FROM llm_requests) = 0 AND slots_in_use = 0 FROM llm_stats",
	't', 5);
ok(defined $t,
	sprintf('the killed client\'s request is withdrawn (after %s s; %d tokens generated when killed)',
		defined $t ? sprintf('%.2f', $t) : 'more than 5', $gen0));
cmp_ok($t // 99, '<', 3, '... within 3 s of the kill');
ok( defined wait_for(
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $bpid", '0', 5),
	'... and its backend has exited');
my $steps0 = $node->safe_psql('postgres', 'SELECT steps FROM llm_stats');
sleep 1;
is($node->safe_psql('postgres', 'SELECT steps FROM llm_stats'),
	$steps0, '... and the worker generates no more');
ok($node->log_contains('connection to client lost'),
	'... the server log says the connection was lost');
# (old code: end the orphaned backend, so that the next part starts clean)
$node->safe_psql('postgres', "SELECT pg_terminate_backend($bpid)")
  if $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE pid = $bpid") ne '0';
LlmNode::queue_drains($node, 10);

# ---------------------------------- 2. a cancelled embedding batch, its slots
SKIP:
{
	skip 'no embedding model (LLM_EMBED_NAME)', 4 unless $LlmNode::embed_name;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $spid = $s->query_safe('SELECT pg_backend_pid()');
	# 250-word texts: one chunk of 64 takes the worker seconds
	LlmNode::start_long_query($s,
		"SELECT count(*) FROM llm_embed_batch(array_fill(repeat('word ', 250), ARRAY[3000]))"
	);
	ok( defined wait_for(
			"SELECT count(*) > 0 FROM llm_requests WHERE pid = $spid AND state = 'running'",
			't', 30),
		'the embedding batch runs');
	usleep(300_000);
	my $held = $node->safe_psql('postgres', 'SELECT slots_in_use FROM llm_stats');
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($spid)");
	my $tc = wait_for('SELECT queue_depth, slots_in_use FROM llm_stats', '0|0', 10);
	ok(defined $tc, "the cancelled batch gives its $held slots back");
	cmp_ok($tc // 99, '<', 0.5,
		sprintf('... within 0.5 s of the cancel (%s s)',
			defined $tc ? sprintf('%.3f', $tc) : 'more than 10'));
	$s->query('SELECT 1');
	like($s->{stderr}, qr/canceling statement due to user request/,
		'... the batch was cancelled');
	$s->quit;
}

# --------------------------- 3. out of memory while a result is copied out
SKIP:
{
	skip 'no embedding model (LLM_EMBED_NAME)', 8 unless $LlmNode::embed_name;
	my $v = $node->background_psql('postgres', on_error_stop => 0);
	my $vpid = $v->query_safe('SELECT pg_backend_pid()');
	# 15 MB of text, about 3 million tokens: a 12 MB result. The input
	# chunk the backend itself allocated (so its segment is mapped here)
	# is freed by the worker before it stores the result, which then
	# lands in the same segment: the copy fails in its allocation, and
	# freeing the chunks afterwards needs no new mapping.
	my $words = 3_000_000;

	# keep the worker busy with an embedding chunk, so that the
	# tokenize request waits in the queue while the limit is set
	my $b = $node->background_psql('postgres', on_error_stop => 0);
	my $bp = $b->query_safe('SELECT pg_backend_pid()');
	LlmNode::start_long_query($b,
		"SELECT count(*) FROM llm_embed_batch(array_fill(repeat('word ', 250), ARRAY[200]))"
	);
	ok( defined wait_for(
			"SELECT count(*) > 0 FROM llm_requests WHERE pid = $bp AND state = 'running'",
			't', 60),
		'the worker is busy embedding');
	LlmNode::start_long_query($v,
		"SELECT cardinality(llm_tokenize(repeat('word ', $words)))");
	ok( defined wait_for(
			"SELECT count(*) FROM llm_requests WHERE pid = $vpid AND kind = 'tokenize'",
			'1', 30),
		'the tokenize request is queued');

	# the backend may grow by 2 MB from now on: the result (about 12 MB)
	# cannot be copied into its memory
	open(my $st, '<', "/proc/$vpid/status") or die "no /proc/$vpid/status: $!";
	my ($vm) = map { /^VmSize:\s+(\d+) kB/ ? $1 : () } <$st>;
	close $st;
	my $limit = ($vm + 2048) * 1024;
	system('prlimit', "--pid=$vpid", "--as=$limit:") == 0
	  or die 'prlimit failed';
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($bp)");

	$v->{stderr} = '';
	$v->query('SELECT 1');
	like(
		$v->{stderr},
		qr/out of memory|could not map shared memory segment.*Cannot allocate memory/,
		'copying the huge result fails for lack of memory');
	note("the copy failed with: $v->{stderr}");
	system('prlimit', "--pid=$vpid", '--as=unlimited:') == 0
	  or die 'prlimit failed';
	ok(LlmNode::queue_drains($node, 10), '... and leaves no slot behind');

	# the same session still honours statement_timeout ...
	$v->{stderr} = '';
	$v->query_safe("SET statement_timeout = '1s'");
	my $t0 = time();
	$v->query('SELECT pg_sleep(5)');
	my $el = time() - $t0;
	like($v->{stderr}, qr/canceling statement due to statement timeout/,
		'the session still honours statement_timeout');
	cmp_ok($el, '<', 3, sprintf('... after %.2f s', $el));

	# ... and pg_cancel_backend
	$v->{stderr} = '';
	$v->query_safe('SET statement_timeout = 0');
	LlmNode::start_long_query($v, 'SELECT pg_sleep(10)');
	wait_for("SELECT wait_event FROM pg_stat_activity WHERE pid = $vpid",
		'PgSleep', 5);
	$t0 = time();
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($vpid)");
	$v->query('SELECT 1');
	$el = time() - $t0;
	like($v->{stderr}, qr/canceling statement due to user request/,
		'the session still honours pg_cancel_backend');
	cmp_ok($el, '<', 3, sprintf('... after %.2f s', $el));
	$v->quit;
	$b->quit;
}

is($node->safe_psql('postgres',
		"SELECT length(llm_generate('The capital of France is', max_tokens => 4)) > 0"),
	't', 'generation still works');
$node->stop;
ok(!$node->log_contains('TRAP|PANIC|terminated by signal'), 'no crash in the server log');

done_testing(20);
