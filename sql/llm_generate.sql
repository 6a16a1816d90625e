--
-- llm_generate: greedy output is deterministic; every option works.
--
SELECT llm_generate('The capital of France is', max_tokens => 8);
SELECT llm_generate('The capital of France is', max_tokens => 16) =
       llm_generate('The capital of France is', max_tokens => 16) AS same;
-- positional arguments
SELECT llm_generate('One, two, three,', 8);
-- a NULL prompt gives NULL; NULL options take their defaults
SELECT llm_generate(NULL) IS NULL AS null_prompt;
SELECT llm_generate('');
SELECT llm_generate('The capital of France is', max_tokens => 16,
                    temperature => NULL, top_p => NULL, top_k => NULL,
                    min_p => NULL, repetition_penalty => NULL, seed => NULL,
                    stop => NULL, model => NULL)
     = llm_generate('The capital of France is', max_tokens => 16) AS null_options;
-- stop strings end the output and are not part of it
SELECT llm_generate('The capital of France is', max_tokens => 16, stop => ARRAY['.']);
SELECT llm_generate('One, two, three,', max_tokens => 16, stop => ARRAY['six', 'five']);
-- max_tokens
SELECT llm_generate('One, two, three,', max_tokens => 1);
-- llm.default_max_tokens applies when max_tokens is NULL
SET llm.default_max_tokens = 4;
SELECT generated_tokens AS before FROM llm_stats \gset
SELECT llm_generate('One, two, three,');
SELECT generated_tokens - :before AS generated FROM llm_stats;
RESET llm.default_max_tokens;
-- sampling: the same seed gives the same text
SELECT llm_generate('Once upon a time', max_tokens => 12, temperature => 0.8, seed => 42)
     = llm_generate('Once upon a time', max_tokens => 12, temperature => 0.8, seed => 42)
       AS same_seed;
-- seed NULL (the default) while sampling: a fresh seed per request, so two
-- calls differ (32 tokens at temperature 1: equal by chance is negligible)
SELECT llm_generate('Once upon a time', max_tokens => 32, temperature => 1)
    <> llm_generate('Once upon a time', max_tokens => 32, temperature => 1)
       AS fresh_seed_differs;
SELECT count(DISTINCT output) AS distinct_outputs
  FROM llm_generate_batch(ARRAY['Once upon a time', 'Once upon a time'],
                          max_tokens => 32, temperature => 1);
-- an explicit seed, 0 included, stays reproducible; greedy stays deterministic
SELECT llm_generate('Once upon a time', max_tokens => 32, temperature => 1, seed => 0)
     = llm_generate('Once upon a time', max_tokens => 32, temperature => 1, seed => 0)
       AS seed_0_reproducible;
SELECT llm_generate('Once upon a time', max_tokens => 32)
     = llm_generate('Once upon a time', max_tokens => 32) AS greedy_deterministic;
-- top_k = 1 is greedy at any temperature
SELECT llm_generate('Once upon a time', max_tokens => 12, temperature => 1.5,
                    top_k => 1, seed => 7)
     = llm_generate('Once upon a time', max_tokens => 12) AS top_k_1_is_greedy;
SELECT length(llm_generate('Once upon a time', max_tokens => 8, temperature => 0.7,
                           top_p => 0.9, min_p => 0.05, seed => 1)) > 0 AS sampled;
-- repetition penalty
SELECT llm_generate('One, two, three,', max_tokens => 8, repetition_penalty => 1.3)
    <> llm_generate('One, two, three,', max_tokens => 8) AS penalty_changes_output;
-- non-ASCII text
SELECT llm_generate('Café au lait, crème brûlée,', max_tokens => 8);
-- in a parallel worker (the functions are PARALLEL SAFE)
SET force_parallel_mode = regress;
SELECT llm_generate('The capital of France is', max_tokens => 6);
RESET force_parallel_mode;
-- several calls in one query
SELECT p, llm_generate(p, max_tokens => 4)
  FROM (VALUES ('One, two,'), ('Monday, Tuesday,')) v(p) ORDER BY p;
--
-- prompts longer than the context: a copy of the model with a context of
-- 64 tokens (llm.ctx_size of the loading session applies)
--
SET llm.ctx_size = 64;
SELECT llm_load_model('ctx64', current_setting('llm.default_model'));
RESET llm.ctx_size;
SELECT context_length FROM llm_models WHERE name = 'ctx64';
SELECT llm_generate(repeat('one two ', 40), max_tokens => 4, model => 'ctx64');
-- left and right truncation keep 64 - max_tokens = 60 prompt tokens
SET llm.truncation = 'left';
SELECT prompt_tokens AS before FROM llm_stats \gset
SELECT length(llm_generate(repeat('one two ', 40) || 'three', max_tokens => 4,
                           model => 'ctx64')) > 0 AS generated;
SELECT prompt_tokens - :before AS prompt_tokens_used FROM llm_stats;
SET llm.truncation = 'right';
SELECT prompt_tokens AS before FROM llm_stats \gset
SELECT length(llm_generate('three ' || repeat('one two ', 40), max_tokens => 4,
                           model => 'ctx64')) > 0 AS generated;
SELECT prompt_tokens - :before AS prompt_tokens_used FROM llm_stats;
-- but not to a sliver: with max_tokens over half of the context, a cut
-- that keeps less than half of the prompt fails (issue 17 point 3)
SELECT llm_generate('three ' || repeat('one two ', 40), max_tokens => 40,
                    model => 'ctx64');
SET llm.truncation = 'left';
SELECT llm_generate('three ' || repeat('one two ', 40), max_tokens => 40,
                    model => 'ctx64');
RESET llm.truncation;
-- max_tokens must fit in the context, whatever the truncation
SELECT llm_generate('One, two, three,', max_tokens => 200, model => 'ctx64');
SET llm.truncation = 'left';
SELECT llm_generate('One, two, three,', max_tokens => 200, model => 'ctx64');
RESET llm.truncation;
-- prompt plus max_tokens exactly filling the context is fine
SELECT cardinality(llm_tokenize('One, two, three,')) AS prompt_tokens;
SELECT length(llm_generate('One, two, three,', max_tokens => 58, model => 'ctx64')) > 0 AS fits;
SELECT llm_unload_model('ctx64');
--
-- the prefix cache: a prompt that starts like the previous one reuses its
-- computed positions (counted in llm_stats) and generates the same text
--
SELECT llm_generate('Tell me one fact about the sea, then', max_tokens => 8) AS first_run \gset
SELECT cached_prompt_tokens AS before FROM llm_stats \gset
SELECT llm_generate('Tell me one fact about the sea, then', max_tokens => 8) = :'first_run' AS same_text;
SELECT cached_prompt_tokens - :before AS reused_positions FROM llm_stats;
