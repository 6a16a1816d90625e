# 004_setup_errors.pl - without shared_preload_libraries every function
# explains how to preload the library; llm.device = cuda without a GPU (or
# without the CUDA module) fails with a clear error.
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

# llm.device = cuda. Without the CUDA module installed ($libdir/llm_cuda.so,
# built when nvcc is found): refused by ALTER SYSTEM, and in
# postgresql.conf the server starts but every request fails with the
# reason. With the module but no GPU: ALTER SYSTEM accepts it (only the
# worker may look for a GPU), and every request fails with SQLSTATE 0A000
# saying no CUDA device was found, with a hint.
my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
my $module = -f "$libdir/llm_cuda.so";
my $gpu = system('nvidia-smi -L 2>/dev/null | grep -q "^GPU"') == 0;
my $cuda = PostgreSQL::Test::Cluster->new('cuda');
$cuda->init;
$cuda->append_conf('postgresql.conf',
	"shared_preload_libraries = 'llm'\nllm.device = 'cuda'\n");
$cuda->start;
$cuda->safe_psql('postgres', 'CREATE EXTENSION llm');
my ($ret, $out, $err) = $cuda->psql('postgres', "SELECT llm_generate('x')");
SKIP:
{
	skip 'a GPU is present: llm.device = cuda serves requests', 3 if $module && $gpu;
	if (!$module)
	{
		like($err,
			qr/llm.device "cuda" is not available in this build.*HINT:  Set llm.device to "auto"/s,
			'llm.device = cuda without the module: requests fail with a clear error');
		ok($cuda->log_contains('llm.device "cuda" is not available in this build'),
			'... and the worker says so in the log');
		($ret, $out, $err) = $cuda->psql('postgres', "ALTER SYSTEM SET llm.device = 'cuda'");
		like($err, qr/not available in this build/, 'ALTER SYSTEM refuses cuda');
	}
	else
	{
		like($err,
			qr/llm.device is "cuda" but no CUDA device was found.*HINT:  Set llm.device to "auto" \(the CPU when there is no GPU\) or "cpu"/s,
			'llm.device = cuda without a GPU: requests fail saying no CUDA device was found');
		($ret, $out, $err) = $cuda->psql('postgres',
			q{DO $$ BEGIN PERFORM llm_generate('x'); EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'sqlstate %', SQLSTATE; END $$});
		like($err, qr/sqlstate 0A000/, '... with SQLSTATE 0A000 (feature_not_supported)');
		($ret, $out, $err) = $cuda->psql('postgres', "ALTER SYSTEM SET llm.device = 'cuda'");
		is($ret, 0, 'ALTER SYSTEM accepts cuda when the module is installed');
		$cuda->safe_psql('postgres', 'ALTER SYSTEM RESET llm.device');
	}
}
$cuda->stop;

done_testing(12);
