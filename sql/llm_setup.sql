--
-- llm_setup: the library is preloaded, the extension installed and the
-- worker serves requests with the default model.
--
SELECT extname, extversion FROM pg_extension WHERE extname = 'llm';
-- the first request also waits for the worker to load the default model
SELECT length(llm_generate('Hello', max_tokens => 1)) > 0 AS worker_answers;
SELECT backend_type, datname FROM pg_stat_activity
 WHERE backend_type = 'llm worker';
-- every setting and who may change it
SELECT name, context, vartype FROM pg_settings
 WHERE name LIKE 'llm.%' ORDER BY name;
SELECT name, setting FROM pg_settings
 WHERE name IN ('llm.truncation', 'llm.device', 'llm.max_tokens',
                'llm.default_max_tokens', 'llm.ctx_size', 'llm.threads',
                'llm.gpu_memory_mb')
 ORDER BY name;
