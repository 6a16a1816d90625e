# 002_worker_restart.pl - when the worker dies (terminated, or killed with
# SIGKILL) in the middle of a batch, the waiting sessions get an ERROR,
# the worker comes back and the next query works.
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

my $node = LlmNode::new_node('restart', "llm.max_batch = 2\nrestart_after_crash = on\n");
my $long =
  "SELECT llm_generate('1, 2, 3, 4, 5,', max_tokens => 900)";
my $greedy = "SELECT llm_generate('The capital of France is', max_tokens => 8)";
my $expected = $node->safe_psql('postgres', $greedy);

# start n sessions running $long; returns [handle, \stdout, \stderr] each
sub start_sessions
{
	my ($n) = @_;
	my @s;
	push @s, LlmNode::start_psql($node, $long) for 1 .. $n;
	return @s;
}

# wait for every session to end (at most $secs); returns the seconds taken
sub finish_sessions
{
	my ($secs, @s) = @_;
	my $t0 = time();
	LlmNode::finish_psql($_, $t0 + $secs - time()) for @s;
	return time() - $t0;
}

for my $how ('pg_terminate_backend', 'SIGKILL')
{
	my $pid0 = LlmNode::worker_pid($node);
	ok(defined $pid0, "worker runs before $how");

	# two requests running, one queued
	my @s = start_sessions(3);
	$node->poll_query_until('postgres',
		'SELECT running = 2 AND queue_depth = 3 FROM llm_stats')
	  or die 'requests never started';
	usleep(200_000);

	if ($how eq 'SIGKILL')
	{
		kill 'KILL', $pid0;
	}
	else
	{
		$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid0)");
	}
	my $took = finish_sessions(30, @s);
	my $errors = grep { ${ $_->[2] } =~ /ERROR|FATAL|terminat|connection/ } @s;
	is($errors, 3, "$how: all waiting sessions got an error");
	cmp_ok($took, '<', 5, sprintf("$how: ... promptly (%.2f s)", $took));
	if ($how eq 'pg_terminate_backend')
	{
		my $worker_errors = grep { ${ $_->[2] } =~ /llm worker exited/ } @s;
		is($worker_errors, 3, '... saying that the llm worker exited');
	}
	note "session $_: " . ${ $s[$_]->[2] } for 0 .. $#s;

	# the worker comes back (after bgw_restart_time, or after crash recovery)
	ok( $node->poll_query_until(
			'postgres',
			"SELECT worker_pid IS NOT NULL AND worker_pid <> $pid0 FROM llm_stats"),
		"$how: a new worker started");
	is($node->safe_psql('postgres', $greedy), $expected, "$how: the next query works");
	ok(LlmNode::queue_drains($node, 5), "$how: no slot left behind");
}

$node->stop;
done_testing(13);
