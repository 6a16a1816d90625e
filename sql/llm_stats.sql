--
-- llm_stats after the other tests.
--
SELECT requests > 0 AS requests, prompt_tokens > 0 AS prompt_tokens,
       generated_tokens > 0 AS generated_tokens, steps > 0 AS steps,
       avg_batch > 1 AS batched, queue_depth, running, slots_in_use,
       mean_queue_wait_ms >= 0 AS wait_ok, tokens_per_second > 0 AS tps_ok,
       engine_seconds > 0 AS engine_ok,
       worker_pid = (SELECT pid FROM pg_stat_activity WHERE backend_type = 'llm worker')
         AS pid_ok,
       started_at <= now() AS started_ok
  FROM llm_stats;
-- the views are readable by everyone
CREATE ROLE llm_regress_reader;
SET ROLE llm_regress_reader;
SELECT count(*) > 0 AS can_read FROM llm_models;
SELECT queue_depth FROM llm_stats;
RESET ROLE;
DROP ROLE llm_regress_reader;
