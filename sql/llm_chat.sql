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
