--
-- llm_chat: messages rendered with the model's chat template.
--
SELECT llm_chat('[{"role": "user", "content": "What is the capital of France?"}]',
                max_tokens => 8);
SELECT llm_chat('[{"role": "user", "content": "What is 2+2?"}]', max_tokens => 12);
SELECT llm_chat('[{"role": "system", "content": "You are a pirate."},
                  {"role": "user", "content": "Say hello."}]', max_tokens => 8);
-- a conversation: the same as llm_generate on the rendered prompt
SELECT llm_chat('[{"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello! How can I help?"},
                  {"role": "user", "content": "Name a colour."}]', max_tokens => 12)
     = llm_generate(E'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n',
                    max_tokens => 12) AS conversation_rendered;
-- a system message given by the caller replaces the template's default
SELECT llm_chat('[{"role": "system", "content": "You are a pirate."},
                  {"role": "user", "content": "Say hello."}]', max_tokens => 8)
     = llm_generate(E'<|im_start|>system\nYou are a pirate.<|im_end|>\n<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n',
                    max_tokens => 8) AS system_rendered;
-- the same as llm_generate on the rendered prompt
SELECT llm_chat('[{"role": "user", "content": "What is 2+2?"}]', max_tokens => 12)
     = llm_generate(E'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
                    max_tokens => 12) AS same_as_rendered;
-- options work as in llm_generate
SELECT llm_chat('[{"role": "user", "content": "Count: one, two,"}]', max_tokens => 16,
                stop => ARRAY[',']);
-- NULL messages give NULL
SELECT llm_chat(NULL) IS NULL AS null_messages;
-- malformed messages
SELECT llm_chat('{"role": "user", "content": "hi"}');
SELECT llm_chat('"hi"');
SELECT llm_chat('[]');
SELECT llm_chat('["hello"]');
SELECT llm_chat('[{"role": "user"}]');
SELECT llm_chat('[{"role": "user", "content": 5}]');
SELECT llm_chat('[{"content": "hi"}]');
SELECT llm_chat('[{"role": "robot", "content": "hi"}]');
SELECT llm_chat('[{"role": "user", "content": "hi"}]', max_tokens => 0);
--
-- conversations longer than the context (issue 17 point 3): a copy of the
-- model with a context of 256 tokens
--
SET llm.ctx_size = 256;
SELECT llm_load_model('chat256', current_setting('llm.default_model'));
RESET llm.ctx_size;
CREATE TEMP TABLE long_chat AS
SELECT jsonb_build_array(jsonb_build_object('role', 'system',
         'content', 'You are a pirate who answers in one short sentence.'))
    || (SELECT jsonb_agg(m ORDER BY i, k)
          FROM generate_series(0, 11) i,
               LATERAL (VALUES
                 (0, jsonb_build_object('role', 'user', 'content',
                   format('Old question %s: tell me a long story about the ship number %s and its crew.', i, i))),
                 (1, jsonb_build_object('role', 'assistant', 'content',
                   format('Old answer %s: the ship number %s sailed far with a brave crew of many sailors.', i, i))))
               v(k, m))
    || jsonb_build_array(jsonb_build_object('role', 'user',
         'content', 'What is the capital of France?')) AS msgs;
SELECT jsonb_array_length(msgs) AS messages FROM long_chat;
-- the fit leaves out the first 9 exchanges: messages 2 .. 19
\set kept_after 19
-- error (the default): the whole conversation does not fit
DO $$
BEGIN
  PERFORM llm_chat(msgs, max_tokens => 24, model => 'chat256') FROM long_chat;
EXCEPTION WHEN program_limit_exceeded THEN
  RAISE NOTICE 'SQLSTATE %: %', SQLSTATE, SQLERRM;
END $$;
-- right and left leave out the oldest whole turns: the system message,
-- the last question and the assistant opening stay, and the answer is text
SET llm.truncation = 'right';
SELECT prompt_tokens AS before FROM llm_stats \gset
SELECT llm_chat(msgs, max_tokens => 24, model => 'chat256') AS answer FROM long_chat \gset
SELECT :'answer' AS answer, :'answer' ~ '[A-Za-z]' AS is_text;
SELECT prompt_tokens - :before AS prompt_tokens_used,
       prompt_tokens - :before <= 256 - 24 AS fits FROM llm_stats;
SET llm.truncation = 'left';
SELECT llm_chat(msgs, max_tokens => 24, model => 'chat256') = :'answer' AS left_same
  FROM long_chat;
-- the same answer and prompt as the conversation without its oldest
-- exchanges, which fits as it is
RESET llm.truncation;
SELECT prompt_tokens AS before FROM llm_stats \gset
SELECT llm_chat(jsonb_build_array(msgs -> 0)
                || (SELECT jsonb_agg(e ORDER BY o) FROM jsonb_array_elements(msgs)
                      WITH ORDINALITY a(e, o) WHERE o > :kept_after),
                max_tokens => 24, model => 'chat256') = :'answer' AS same_as_kept_turns
  FROM long_chat;
SELECT prompt_tokens - :before AS kept_prompt_tokens FROM llm_stats;
-- as few turns as needed are left out: one exchange more does not fit
SELECT llm_chat(jsonb_build_array(msgs -> 0)
                || (SELECT jsonb_agg(e ORDER BY o) FROM jsonb_array_elements(msgs)
                      WITH ORDINALITY a(e, o) WHERE o > :kept_after - 2),
                max_tokens => 24, model => 'chat256')
  FROM long_chat;
-- a last user turn that does not fit alone fails, under left and right
SET llm.truncation = 'left';
DO $$
BEGIN
  PERFORM llm_chat(jsonb_build_array(
            jsonb_build_object('role', 'system', 'content', 'You are a pirate.'),
            jsonb_build_object('role', 'user', 'content', repeat('Tell me more about pirates. ', 60))),
          max_tokens => 24, model => 'chat256');
EXCEPTION WHEN program_limit_exceeded THEN
  RAISE NOTICE 'SQLSTATE %: %', SQLSTATE, SQLERRM;
END $$;
SET llm.truncation = 'right';
SELECT llm_chat(jsonb_build_array(
         jsonb_build_object('role', 'user', 'content', repeat('Tell me more about pirates. ', 60))),
       max_tokens => 24, model => 'chat256');
RESET llm.truncation;
DROP TABLE long_chat;
SELECT llm_unload_model('chat256');
