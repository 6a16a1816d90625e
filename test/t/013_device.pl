# 013_device.pl - llm.device = auto and where CUDA is loaded: the worker
# falls back to the CPU when there is no GPU (and logs why), llm_models
# shows each model's device and GPU bytes, and the CUDA module is mapped
# into the worker only - never into the postmaster (which forks every
# other process: a CUDA context must not exist before fork) nor into an
# ordinary backend.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use LlmNode;

LlmNode::require_model();

my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
my $module = -f "$libdir/llm_cuda.so";
my $gpu = system('nvidia-smi -L 2>/dev/null | grep -q "^GPU"') == 0;

# whether process $pid has a CUDA library or our module mapped
sub maps_cuda
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/maps") or die "maps of $pid: $!";
	my $hit = grep { m{llm_cuda\.so|libcudart|libcublas|libcuda\.so} } <$fh>;
	close $fh;
	return $hit;
}

my $node = LlmNode::new_node('device', "llm.device = 'auto'\nllm.gpu_memory_mb = 1024\n");
is($node->safe_psql('postgres', "SELECT length(llm_generate('Hello', max_tokens => 2)) > 0"),
	't', 'llm.device = auto: requests are served');
my $want = $module && $gpu ? 'cuda' : 'cpu';
is($node->safe_psql('postgres',
		"SELECT device || ' ' || (gpu_bytes > 0) FROM llm_models WHERE is_default"),
	$want eq 'cuda' ? 'cuda true' : 'cpu false',
	"llm_models: the default model runs on $want");
SKIP:
{
	skip 'the CUDA module is not installed (built without nvcc)', 1 unless $module;
	skip 'a GPU is present', 1 if $gpu;
	ok($node->log_contains('llm.device "auto" runs on the CPU: no CUDA device was found'),
		'the worker logs why auto runs on the CPU');
}
is($node->safe_psql('postgres', 'SHOW llm.gpu_memory_mb'), '1GB', 'llm.gpu_memory_mb is set');

open(my $pf, '<', $node->data_dir . '/postmaster.pid') or die "postmaster.pid: $!";
my $postmaster = <$pf>;
close $pf;
chomp $postmaster;
ok(!maps_cuda($postmaster), 'the postmaster has no CUDA library mapped');
# a backend that stays while we look at it
my $bg = $node->background_psql('postgres');
my $bpid = $bg->query_safe("SELECT pg_backend_pid()");
$bg->query_safe("SELECT llm_generate('Hi', max_tokens => 1)");
ok(!maps_cuda($bpid), 'an ordinary backend that ran a request has no CUDA library mapped');
$bg->quit;
SKIP:
{
	skip 'the CUDA module is not installed (built without nvcc)', 1 unless $module;
	my $w = LlmNode::worker_pid($node);
	ok(maps_cuda($w), 'the worker opened the CUDA module (llm.device = auto)');
}
$node->stop;

done_testing(7);
