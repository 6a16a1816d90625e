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

use IPC::Run;
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

# Start psql running $sql against the postgres database of $node in the
# background, with the psql options in @opts besides -XAtq; returns
# [handle, \stdout, \stderr].
sub start_psql
{
	my ($node, $sql, @opts) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', @opts, '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
	return [ $h, \$out, \$err ];
}

# Wait until the session $s of start_psql ends (pumping its output) or
# $secs seconds have passed; kill it if it still runs, then reap it.
sub finish_psql
{
	my ($s, $secs) = @_;
	my $deadline = time() + $secs;
	while ($s->[0]->pumpable && time() < $deadline)
	{
		$s->[0]->pump_nb;
		usleep(10_000);
	}
	$s->[0]->kill_kill if $s->[0]->pumpable;
	$s->[0]->finish;
}

# Seconds from $since (a time()) until process $pid is gone, polled
# every $poll_us microseconds; undef if it still runs $limit seconds
# after $since.
sub wait_gone
{
	my ($pid, $since, $limit, $poll_us) = @_;
	while (time() - $since < $limit)
	{
		return time() - $since if !kill(0, $pid);
		usleep($poll_us);
	}
	return undef;
}

# Start a long generation in a background session without waiting for
# it; returns once psql has sent the query.
sub start_long_query
{
	my ($session, $sql) = @_;
	$session->query_until(qr/started/, "\\echo started\n$sql;\n");
}

1;
