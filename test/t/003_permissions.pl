# 003_permissions.pl - a role without superuser or pg_read_server_files
# can load models only from llm.model_dir (no "..", no symbolic link out
# of it), learns nothing about files outside it (one error for missing
# and existing files, no paths in llm_models) and cannot raise any cap.
# Loading is not granted to PUBLIC: the test grants it to the role.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use LlmNode;

LlmNode::require_model();

my $outside = "$LlmNode::model_dir/$LlmNode::model_file";
my $dir = PostgreSQL::Test::Utils::tempdir();
link($outside, "$dir/copy.gguf") or copy($outside, "$dir/copy.gguf")
  or die "copy: $!";
symlink($outside, "$dir/escape.gguf") or die "symlink: $!";
symlink('/etc', "$dir/etc") or die "symlink: $!";
mkdir "$dir/sub";

my $node = LlmNode::new_node('perm',
	"llm.model_dir = '$dir'\nllm.default_model = 'copy.gguf'\n");
$node->safe_psql('postgres', 'CREATE ROLE plain LOGIN');

# run SQL as the plain role; returns (stdout, stderr)
sub as_plain
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE plain; $sql");
	return ($out, $err);
}

# not granted to PUBLIC
my (undef, undef, $err0) = $node->psql('postgres',
	"SET ROLE plain; SELECT llm_load_model('ok', 'copy.gguf')");
like($err0, qr/permission denied for function llm_load_model/,
	'llm_load_model is not granted to PUBLIC');
$node->safe_psql('postgres',
	'GRANT EXECUTE ON FUNCTION llm_load_model(text, text), llm_unload_model(text) TO plain');

my %denied = (
	'/etc/passwd' => 'absolute path outside llm.model_dir',
	'../../../../../../etc/passwd' => 'relative path with ..',
	'sub/../../copy.gguf' => '.. leaving the directory',
	'escape.gguf' => 'symbolic link leading out of the directory',
	'etc/passwd' => 'symbolic link to a directory outside',
	"$outside" => 'the model itself outside llm.model_dir',
	'.' => 'the directory itself');
for my $path (sort keys %denied)
{
	my (undef, $err) = as_plain("SELECT llm_load_model('x', '$path')");
	like($err, qr/permission denied to load model/, "refused: $denied{$path}");
}
is($node->safe_psql('postgres', "SELECT count(*) FROM llm_models WHERE name = 'x'"),
	'0', 'nothing was loaded');

# through the link to /etc, a missing file and an existing one give the
# same error (same SQLSTATE, message and detail)
sub load_error
{
	my ($path) = @_;
	my (undef, undef, $err) = $node->psql('postgres',
		"SET ROLE plain; \\set VERBOSITY verbose\nSELECT llm_load_model('x', '$path')");
	$err =~ s/\Q$path\E/PATH/g;
	$err =~ s/LOCATION:.*//s;
	return $err;
}
my $exists = load_error('etc/passwd');
like($exists, qr/42501/, 'an existing file outside: 42501');
is(load_error('etc/no-such-file'), $exists, 'a missing file outside: the same error');
is(load_error('etc/no-such-dir/file'), $exists, 'a missing directory outside: the same error');
like(load_error('no-such-file.gguf'), qr/58P01/,
	'a missing file inside llm.model_dir is reported as missing');

# llm_models shows where files are only to superusers and
# pg_read_server_files members (escape.gguf points outside)
is($node->safe_psql('postgres',
		"SET ROLE plain; SELECT count(*), count(path) FROM llm_models WHERE name = 'escape'"),
	'1|0', 'llm_models hides paths from a plain role');
is($node->safe_psql('postgres',
		"SELECT path FROM llm_models WHERE name = 'escape'"),
	$outside, 'a superuser sees where the link points');

my ($out, $err) = as_plain("SELECT llm_load_model('ok', 'copy.gguf')");
is($err, '', 'a file inside llm.model_dir may be loaded');
($out, $err) = as_plain("SELECT llm_load_model('ok2', 'sub/../copy.gguf')");
is($err, '', '... also through a harmless ..');

# superusers and pg_read_server_files members may load any file
($out, $err) = $node->psql('postgres', "SELECT llm_load_model('su', 'escape.gguf')");
is($err, '', 'a superuser may follow the link');
$node->safe_psql('postgres', 'GRANT pg_read_server_files TO plain');
($out, $err) = as_plain("SELECT llm_load_model('rsf', '$outside')");
is($err, '', 'a pg_read_server_files member may load any file');
$node->safe_psql('postgres', 'REVOKE pg_read_server_files FROM plain');
is($node->safe_psql('postgres', 'SELECT count(*) FROM llm_models WHERE loaded'),
	'5', 'five models loaded');

# a hard link is the same file: loading it under another name shares the
# loaded copy, so it fits in a budget that holds one copy only
$node->safe_psql('postgres', "SELECT llm_unload_model('su'), llm_unload_model('rsf')");
SKIP:
{
	skip 'no hard links in the temporary directory', 2
	  unless link("$dir/copy.gguf", "$dir/hard.gguf");
	my $budget = $node->safe_psql('postgres',
		"SELECT max(memory_bytes) / (1024 * 1024) + 2 FROM llm_models WHERE loaded");
	(undef, undef, $err) = $node->psql('postgres',
		"SET llm.model_memory_mb = $budget; SELECT llm_load_model('hard2', 'hard.gguf')");
	is($err, '', 'a hard link to a loaded file shares its copy (fits a one-copy budget)');
	is($node->safe_psql('postgres',
			"SELECT llm_generate('The capital of France is', max_tokens => 4, model => 'hard2')"
			  . " = llm_generate('The capital of France is', max_tokens => 4)"),
		't', 'the shared copy answers like the default model');
	$node->safe_psql('postgres', "SELECT llm_unload_model('hard2')");
}

# caps and protected settings
for my $sql (
	'SET llm.max_tokens = 100000',
	"SELECT set_config('llm.max_tokens', '100000', false)",
	'SET llm.ctx_size = 100000',
	'ALTER ROLE plain SET llm.max_tokens = 100000',
	'ALTER SYSTEM SET llm.max_tokens = 100000',
	'ALTER SYSTEM SET llm.kv_cache_mb = 100000',
	'SET llm.kv_cache_mb = 100000',
	'SET llm.max_batch = 1000',
	'SET llm.threads = 64',
	"SET llm.model_dir = '/'",
	"SET llm.default_model = '/etc/passwd'")
{
	(undef, $err) = as_plain($sql);
	like($err, qr/permission denied|cannot be changed|must be superuser/,
		"plain role refused: $sql");
}
(undef, $err) = as_plain("SELECT llm_generate('x', max_tokens => 100000)");
like($err, qr/exceeds llm.max_tokens/, 'plain role cannot ask for more than the cap');
is($node->safe_psql('postgres', 'SHOW llm.max_tokens'), '4096', 'cap unchanged');

$node->stop;
done_testing(35);
