--
-- llm_generate_batch: many prompts submitted at once and batched by the
-- worker; each output equals the prompt's single-call output.
--
SELECT * FROM llm_generate_batch(ARRAY['The capital of France is', 'One, two, three,',
                                       NULL, 'The opposite of hot is'], max_tokens => 8);
WITH p(prompts) AS (
  SELECT ARRAY['The capital of France is', 'One, two, three,', 'The opposite of hot is',
               'My favourite food is', 'Water boils at', 'The sky is',
               'Monday, Tuesday,', 'Roses are red,', 'The first president of the United States was',
               'A B C D', 'Python is a', 'The largest planet is'])
SELECT b.ord, b.output = llm_generate(p.prompts[b.ord], max_tokens => 8) AS same_as_single
  FROM p, llm_generate_batch(p.prompts, max_tokens => 8) b
 ORDER BY b.ord;
-- options apply to every prompt
SELECT * FROM llm_generate_batch(ARRAY['One, two, three,', 'Monday, Tuesday,'],
                                 max_tokens => 8, stop => ARRAY[',', '-']);
-- empty and NULL arrays give no rows
SELECT count(*) FROM llm_generate_batch('{}');
SELECT count(*) FROM llm_generate_batch(NULL);
-- bad options are reported before anything runs
SELECT * FROM llm_generate_batch(ARRAY['a', 'b'], temperature => -1);
SELECT * FROM llm_generate_batch(ARRAY['a', 'b'], model => 'no_such_model');
-- a multi-dimensional array is refused, not flattened
SELECT * FROM llm_generate_batch(ARRAY[ARRAY['a', 'b'], ARRAY['c', 'd']], max_tokens => 2);
