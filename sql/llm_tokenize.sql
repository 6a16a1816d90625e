--
-- llm_tokenize / llm_detokenize through the worker's tokenizer.
--
SELECT llm_tokenize('Hello world');
SELECT llm_detokenize(llm_tokenize('Hello world'));
-- special-token text becomes the special token, and back
SELECT llm_tokenize('<|im_start|>user');
SELECT llm_detokenize(ARRAY[1, 4093, 2]);
-- round trips
SELECT llm_detokenize(llm_tokenize('Café crème brûlée ✓ 日本語'));
SELECT llm_detokenize(llm_tokenize(E'  leading spaces\n\ttabs  ')) = E'  leading spaces\n\ttabs  ' AS round_trip;
SELECT cardinality(llm_tokenize(repeat('ab', 500)));
-- empty and NULL input
SELECT llm_tokenize('');
SELECT llm_detokenize('{}');
SELECT llm_tokenize(NULL) IS NULL AS t, llm_detokenize(NULL) IS NULL AS d;
-- explicit model
SELECT llm_tokenize('Hello', model => 'SmolLM2-135M-Instruct.Q4_1');
SELECT llm_detokenize(ARRAY[19556], model => 'SmolLM2-135M-Instruct.Q4_1');
-- errors
SELECT llm_detokenize(ARRAY[1, NULL]);
SELECT llm_detokenize(ARRAY[-1]);
SELECT llm_detokenize(ARRAY[49152]);
SELECT llm_tokenize('x', model => 'no_such_model');
SELECT llm_detokenize(ARRAY[1], model => 'no_such_model');
