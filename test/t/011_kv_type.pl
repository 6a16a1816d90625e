# 011_kv_type.pl - llm.kv_type: f16 by default; a model loaded after it is
# set to f16 (from f32 here) keeps its KV cache in f16, which halves what a
# request reserves of
# llm.kv_cache_mb (a request that does not fit in f32 fits in f16), the
# worker logs the type, and models loaded before keep theirs.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More tests => 8;

use LlmNode;

LlmNode::require_model();

# a real copy, not a link: a file already loaded is shared with its type
my $dir = PostgreSQL::Test::Utils::tempdir();
copy("$LlmNode::model_dir/$LlmNode::model_file", "$dir/copy.gguf") or die "copy: $!";
link("$LlmNode::model_dir/$LlmNode::model_file", "$dir/first.gguf")
  or copy("$LlmNode::model_dir/$LlmNode::model_file", "$dir/first.gguf") or die "copy: $!";
# 1 MB of KV cache: SmolLM2 takes 46,080 B per position in f32, 23,040 in
# f16, so 6 prompt + 30 generated positions (1.66 MB in f32) fit only in f16
my $node = LlmNode::new_node('kvtype',
	"llm.model_dir = '$dir'\nllm.default_model = 'first.gguf'\nllm.kv_cache_mb = 1\nllm.kv_type = 'f32'\n");
$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM llm_models WHERE is_default AND loaded");
is($node->safe_psql('postgres', "SELECT boot_val || ' ' || setting FROM pg_settings WHERE name = 'llm.kv_type'"),
	'f16 f32', 'the default is f16; this node sets f32');

my $q = "SELECT length(llm_generate('The capital of France is', max_tokens => 30, model => '%s')) > 0";
my ($ret, $out, $err) = $node->psql('postgres', sprintf($q, 'first'));
like($err, qr/request does not fit in llm.kv_cache_mb/, 'f32: 36 positions do not fit in 1 MB');

$node->safe_psql('postgres', "ALTER SYSTEM SET llm.kv_type = 'f16'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('llm.kv_type') = 'f16'");
$node->safe_psql('postgres', "SELECT llm_load_model('half', 'copy.gguf')");
($ret, $out, $err) = $node->psql('postgres', sprintf($q, 'half'));
is($out, 't', 'f16: the same request fits') or diag($err);

($ret, $out, $err) = $node->psql('postgres', sprintf($q, 'first'));
like($err, qr/request does not fit in llm.kv_cache_mb/,
	'the model loaded before the change keeps its f32 cache');

my $log = slurp_file($node->logfile);
like($log, qr/loaded model "first" from "[^"]*" \(KV cache f32\)/, 'the log names f32 for the first model');
like($log, qr/loaded model "half" from "[^"]*" \(KV cache f16\)/, 'and f16 for the one loaded after');

# greedy text from the f16 cache is real text of the same prompt
is($node->safe_psql('postgres',
		"SELECT length(llm_generate('One, two, three,', max_tokens => 8, model => 'half')) > 0"),
	't', 'f16 model generates');
($ret, $out, $err) = $node->psql('postgres', "SET llm.kv_type = 'f32'");
like($err, qr/cannot be changed now/, 'llm.kv_type is not a session setting');
$node->stop;
