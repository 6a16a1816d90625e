--
-- Argument checks and protected settings.
--
SELECT llm_generate('x', max_tokens => 0);
SELECT llm_generate('x', max_tokens => -5);
SELECT llm_generate('x', max_tokens => 100000);
SELECT llm_generate('x', temperature => -0.1);
SELECT llm_generate('x', temperature => 'NaN');
SELECT llm_generate('x', top_p => 0);
SELECT llm_generate('x', top_p => 1.5);
SELECT llm_generate('x', top_k => -1);
SELECT llm_generate('x', min_p => 2);
SELECT llm_generate('x', repetition_penalty => 0);
-- options are checked in the backend as the 4-byte floats the engine uses
SELECT llm_generate('x', temperature => 1e308);
SELECT llm_generate('x', temperature => 1e-300);
SELECT llm_generate('x', repetition_penalty => 1e308);
SELECT llm_generate('x', repetition_penalty => 5e-324);
SELECT llm_generate('x', top_p => 1e-300);
SELECT llm_generate('x', min_p => 1e-300);
SELECT llm_chat('[{"role": "user", "content": "x"}]', temperature => 1e308);
SELECT * FROM llm_generate_batch(ARRAY['x'], repetition_penalty => 5e-324);
\set VERBOSITY sqlstate
SELECT llm_generate('x', temperature => 1e308);
SELECT llm_generate('x', repetition_penalty => 5e-324);
\set VERBOSITY default
-- the largest and smallest floats are accepted
SELECT length(llm_generate('x', max_tokens => 1, repetition_penalty => 3.4e38)) >= 0 AS ok;
SELECT length(llm_generate('x', max_tokens => 1, repetition_penalty => 1.2e-38)) >= 0 AS ok;
SELECT llm_generate('x', stop => ARRAY['a', NULL]);
SELECT llm_generate('x', stop => ARRAY['']);
SELECT llm_generate('x', stop => array_fill('x'::text, ARRAY[17]));
SELECT llm_generate('x', model => 'no_such_model');
SELECT llm_generate('x', model => repeat('m', 100));
-- an empty model name is an error, a huge one is not echoed whole
SELECT llm_generate('x', model => '');
SELECT llm_tokenize('x', '');
SELECT llm_generate('x', model => repeat('m', 10000));
SELECT llm_load_model(repeat('n', 10000), 'x.gguf');
-- multi-dimensional arrays are refused, not flattened
SELECT llm_generate('x', stop => ARRAY[['a', 'b'], ['c', 'd']]);
SELECT llm_detokenize(ARRAY[[1, 2], [3, 4]]);
-- llm.default_max_tokens may not exceed llm.max_tokens
SET llm.default_max_tokens = 5000;
SHOW llm.default_max_tokens;
SELECT length(llm_generate('x', max_tokens => 1)) >= 0 AS ok;
SET llm.default_max_tokens = 4096;
SHOW llm.default_max_tokens;
-- lowering llm.max_tokens below the default still fails at call time
SET llm.max_tokens = 100;
SELECT llm_generate('x');
RESET llm.max_tokens;
RESET llm.default_max_tokens;
-- enum settings
SET llm.truncation = 'middle';
SET llm.device = 'cpu';
ALTER SYSTEM SET llm.device = 'gpu';
-- unknown llm.* settings are refused (the prefix is reserved)
SET llm.no_such_setting = 1;
--
-- a plain role can neither raise a cap nor change a protected setting
--
CREATE ROLE llm_regress_plain;
SET ROLE llm_regress_plain;
SET llm.max_tokens = 100000;
SET llm.ctx_size = 100000;
SET llm.kv_cache_mb = 100000;
SET llm.max_batch = 1000;
SET llm.threads = 64;
SET llm.model_dir = '/';
SET llm.default_model = '/etc/passwd';
-- session settings a plain role may change
SET llm.default_max_tokens = 2;
SET llm.truncation = 'left';
SELECT llm_generate('One, two, three,');
SELECT llm_generate('One, two, three,', max_tokens => 5000);
RESET ROLE;
RESET llm.default_max_tokens;
RESET llm.truncation;
DROP ROLE llm_regress_plain;
