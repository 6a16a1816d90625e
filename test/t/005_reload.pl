# 005_reload.pl - the worker applies configuration reloads: a new
# llm.default_model is loaded, llm.kv_cache_mb limits admission.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use File::Copy;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use LlmNode;

LlmNode::require_model();

my $outside = "$LlmNode::model_dir/$LlmNode::model_file";
my $dir = PostgreSQL::Test::Utils::tempdir();
for my $f ('first.gguf', 'second.gguf')
{
	link($outside, "$dir/$f") or copy($outside, "$dir/$f") or die "copy: $!";
}
# an f32 cache (46 kB per position): the admission checks below count on it
my $node = LlmNode::new_node('reload',
	"llm.model_dir = '$dir'\nllm.default_model = 'first.gguf'\nllm.kv_type = 'f32'\n");

# the worker loads its models after the server has started
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) = 1 FROM llm_models WHERE is_default AND loaded"),
	'the worker loads the default model');
is($node->safe_psql('postgres', 'SELECT name FROM llm_models WHERE is_default'),
	'first', 'first.gguf is the default model');
is($node->safe_psql('postgres', 'SELECT name FROM llm_models WHERE NOT loaded'),
	'second', 'second.gguf is listed as not loaded');

$node->safe_psql('postgres',
	"ALTER SYSTEM SET llm.default_model = 'second.gguf'; SELECT pg_reload_conf()");
ok( $node->poll_query_until(
		'postgres', "SELECT name = 'second' FROM llm_models WHERE is_default"),
	'after a reload second.gguf is the default model');
is($node->safe_psql('postgres', 'SELECT string_agg(name, \',\' ORDER BY name) FROM llm_models WHERE loaded'),
	'first,second', 'the old default stays loaded');

# a missing default model: requests without a model name fail clearly
$node->safe_psql('postgres',
	"ALTER SYSTEM SET llm.default_model = 'missing.gguf'; SELECT pg_reload_conf()");
ok($node->poll_query_until('postgres',
		'SELECT count(*) = 0 FROM llm_models WHERE is_default'),
	'no default model after a bad reload');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT llm_generate('x')");
like($err, qr/no default model is loaded.*DETAIL:  could not load model "missing"/s,
	'requests for the default model say why there is none');
is($node->safe_psql('postgres',
		"SELECT length(llm_generate('The capital of France is', max_tokens => 4, model => 'first')) > 0"),
	't', 'named models still work');

# llm.kv_cache_mb = 1: a request needing more than 1 MB of KV cache fails,
# small ones run one at a time (46 kB per position)
$node->safe_psql('postgres',
	"ALTER SYSTEM SET llm.kv_cache_mb = 1; ALTER SYSTEM SET llm.default_model = 'first.gguf'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT name = 'first' FROM llm_models WHERE is_default");
usleep(300_000);
($ret, $out, $err) = $node->psql('postgres',
	"SELECT llm_generate('The capital of France is', max_tokens => 100)");
like($err, qr/request does not fit in llm.kv_cache_mb/, 'too large for the KV budget');

$node->safe_psql('postgres', "SELECT llm_generate('x', max_tokens => 1)");
my ($steps0, $seqs0) = split /\|/, $node->safe_psql('postgres',
	'SELECT steps, round(avg_batch * steps) FROM llm_stats');
my @h;
for (1 .. 3)
{
	my ($o, $e) = ('', '');
	push @h, [ IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		  "SELECT llm_generate('One, two, three,', max_tokens => 10)" ],
		'>', \$o, '2>', \$e), \$o, \$e ];
}
$_->[0]->finish for @h;
is(scalar(grep { ${ $_->[2] } eq '' && ${ $_->[1] } ne '' } @h), 3,
	'three small requests succeed');
my ($steps1, $seqs1) = split /\|/, $node->safe_psql('postgres',
	'SELECT steps, round(avg_batch * steps) FROM llm_stats');
cmp_ok($steps1 - $steps0, '>=', 30, 'they took at least 3 x 10 steps');
is($seqs1 - $seqs0, $steps1 - $steps0,
	'the KV budget admits them one at a time (one sequence per step)');

$node->stop;
done_testing(12);
