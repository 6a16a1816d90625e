# test/t/LlmNode.pm - helpers shared by the llm TAP tests.
#
# The tests use PostgreSQL::Test::Cluster from PGXS, so they must run as
# an ordinary (non-root) user: test/pg/run-tap.sh runs prove as the
# postgres user when started as root. The model is found through
#   LLM_PG_MODEL_DIR  directory the server may read (the model is in it)
#   LLM_MODEL_FILE    file name of the default model inside it
# and the tests skip when they are not set.
package LlmNode;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our $model_dir  = $ENV{LLM_PG_MODEL_DIR};
our $model_file = $ENV{LLM_MODEL_FILE};
our $embed_name = $ENV{LLM_EMBED_NAME} // '';

# Skip the whole test file unless a model is available.
sub require_model
{
	if (!defined $model_dir || !defined $model_file
		|| !-r "$model_dir/$model_file")
	{
		plan skip_all => 'LLM_PG_MODEL_DIR / LLM_MODEL_FILE not set or unreadable';
	}
}

# A started node with llm preloaded and the extension created; extra lines
# are appended to postgresql.conf.
sub new_node
{
	my ($name, $extra_conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init;
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'llm'
llm.model_dir = '$model_dir'
llm.default_model = '$model_file'
llm.default_embedding_model = '$embed_name'
llm.threads = 1
llm.ctx_size = 1024
max_connections = 40
} . ($extra_conf // ''));
	{
		# LLM_SERVER_PRELOAD: LD_PRELOAD for the server only (a sanitizer
		# runtime when testing a sanitizer build of llm.so)
		local $ENV{LD_PRELOAD} = $ENV{LLM_SERVER_PRELOAD}
		  if $ENV{LLM_SERVER_PRELOAD};
		$node->start;
	}
	$node->safe_psql('postgres', 'CREATE EXTENSION llm');
	return $node;
}

# pid of the llm worker (undef while none runs)
sub worker_pid
{
	my ($node) = @_;
	my $pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'llm worker'");
	return $pid eq '' ? undef : $pid;
}

# Wait until the queue is empty and no slot is held (at most $secs).
sub queue_drains
{
	my ($node, $secs) = @_;
	my $deadline = time() + ($secs // 5);
	while (time() < $deadline)
	{
		my $r = $node->safe_psql('postgres',
			'SELECT queue_depth, slots_in_use FROM llm_stats');
		return 1 if $r eq '0|0';
		usleep(20_000);
	}
	return 0;
}

# Start a long generation in a background session without waiting for
# it; returns once psql has sent the query.
sub start_long_query
{
	my ($session, $sql) = @_;
	$session->query_until(qr/started/, "\\echo started\n$sql;\n");
}

1;
