# 004_setup_errors.pl - without shared_preload_libraries every function
# explains how to preload the library; llm.device = cuda is refused.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use LlmNode;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION llm');
for my $sql (
	"SELECT llm_generate('x')",
	"SELECT llm_chat('[]')",
	"SELECT * FROM llm_generate_batch(ARRAY['x'])",
	"SELECT llm_tokenize('x')",
	"SELECT llm_detokenize('{1}')",
	"SELECT llm_load_model('a', 'b')",
	"SELECT llm_unload_model('a')",
	'SELECT * FROM llm_models',
	'SELECT * FROM llm_stats')
{
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	like($err,
		qr/llm must be loaded via shared_preload_libraries.*HINT:  Add llm to shared_preload_libraries/s,
		"$sql: error with hint");
}
$node->stop;

# llm.device = cuda: refused by ALTER SYSTEM; in postgresql.conf the
# server starts but every request fails with the reason
my $cuda = PostgreSQL::Test::Cluster->new('cuda');
$cuda->init;
$cuda->append_conf('postgresql.conf',
	"shared_preload_libraries = 'llm'\nllm.device = 'cuda'\n");
$cuda->start;
$cuda->safe_psql('postgres', 'CREATE EXTENSION llm');
my ($ret, $out, $err) = $cuda->psql('postgres', "SELECT llm_generate('x')");
like($err,
	qr/llm.device "cuda" is not available in this build.*HINT:  Set llm.device to "auto" or "cpu"/s,
	'llm.device = cuda: requests fail with a clear error');
ok($cuda->log_contains('llm.device "cuda" is not available in this build'),
	'... and the worker says so in the log');
($ret, $out, $err) = $cuda->psql('postgres', "ALTER SYSTEM SET llm.device = 'cuda'");
like($err, qr/not available in this build/, 'ALTER SYSTEM refuses cuda');
$cuda->stop;

done_testing(12);
