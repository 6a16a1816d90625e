--
-- llm_json: structured output. json_schema on llm_generate, llm_chat and
-- llm_generate_batch; llm_extract; the errors.
--
-- a JSON object of the schema, from a plain prompt
SELECT llm_generate('Describe Anna, 31, from Rome, as JSON: ', max_tokens => 60,
         json_schema => '{"type": "object",
                          "properties": {"name": {"type": "string", "maxLength": 20},
                                         "age": {"type": "integer", "minimum": 0, "maximum": 150}},
                          "required": ["name", "age"], "additionalProperties": false}') AS out \gset
SELECT :'out'::jsonb ? 'name' AS has_name,
       jsonb_typeof(:'out'::jsonb -> 'age') AS age_type,
       (:'out'::jsonb ->> 'age')::int BETWEEN 0 AND 150 AS age_in_range,
       (SELECT count(*) FROM jsonb_object_keys(:'out'::jsonb)) AS n_keys;
-- compact JSON: no whitespace between tokens of the value
SELECT :'out' = (:'out'::jsonb)::text OR :'out' !~ '[:,] ' AS compact;
-- the same call twice gives the same value (greedy)
SELECT llm_generate('Describe Anna, 31, from Rome, as JSON: ', max_tokens => 60,
         json_schema => '{"type": "object",
                          "properties": {"name": {"type": "string", "maxLength": 20},
                                         "age": {"type": "integer", "minimum": 0, "maximum": 150}},
                          "required": ["name", "age"], "additionalProperties": false}') = :'out' AS same;
-- positional call: json_schema is the last parameter
SELECT llm_generate('Is water wet? Answer: ', 5, 0, 1, 0, 0, 1, NULL, NULL, NULL,
                    '{"type": "boolean"}') IN ('true', 'false') AS boolean_answer;
-- enum through llm_chat
SELECT llm_chat('[{"role": "user", "content": "Which color is the sky on a clear day?"}]',
                max_tokens => 10,
                json_schema => '{"enum": ["red", "green", "blue"]}')::jsonb
       <@ '["red", "green", "blue"]'::jsonb AS color_in_enum;
-- every output of a batch parses and has the schema's shape
SELECT ord, jsonb_typeof(output::jsonb) AS t, jsonb_array_length(output::jsonb) <= 3 AS short
  FROM llm_generate_batch(ARRAY['List two fruits as a JSON array: ', NULL,
                                'List three numbers as a JSON array: '],
         max_tokens => 40,
         json_schema => '{"type": "array", "items": {"type": ["string", "integer"], "maxLength": 12},
                          "minItems": 1, "maxItems": 3}')
 ORDER BY ord;
-- llm_extract returns jsonb
SELECT jsonb_typeof(v) AS t, jsonb_typeof(v -> 'city') AS city,
       v ->> 'city' IN ('Paris', 'Berlin', 'Rome') AS city_in_enum,
       jsonb_typeof(v -> 'age') AS age
  FROM llm_extract('Anna is 31 years old and lives in Rome.',
         '{"type": "object",
           "properties": {"age": {"type": "integer"},
                          "city": {"enum": ["Paris", "Berlin", "Rome"]}},
           "required": ["age", "city"]}', max_tokens => 40) AS v;
SELECT pg_typeof(llm_extract('x', '{"type": "null"}')) AS type,
       llm_extract('x', '{"type": "null"}') = 'null'::jsonb AS is_null;
SELECT llm_extract(NULL, '{"type": "string"}') IS NULL AS null_input;
-- instructions replace the default ones
SELECT jsonb_typeof(llm_extract('The order ships in 3 days.', '{"type": "integer", "minimum": 0, "maximum": 30}',
                    instructions => 'How many days until the order ships?', max_tokens => 5)) AS t;
-- in an UPDATE
CREATE TEMP TABLE notes (id int, body text, info jsonb);
INSERT INTO notes VALUES (1, 'Bob is 42.', NULL), (2, 'Eve is 29.', NULL);
UPDATE notes SET info = llm_extract(body, '{"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"], "additionalProperties": false}', max_tokens => 20);
SELECT id, jsonb_typeof(info -> 'age') AS age FROM notes ORDER BY id;
-- the UPDATE is batched (LlmBatch node), with the row-by-row values;
-- json_schema on a batched llm_generate too
INSERT INTO notes SELECT g, 'Person ' || g || ' is ' || (20 + g) || ' years old.', NULL
  FROM generate_series(3, 10) g;
EXPLAIN (COSTS OFF) UPDATE notes SET info = llm_extract(body, '{"type": "integer"}', max_tokens => 6);
CREATE TEMP TABLE ex_batched AS
SELECT id, llm_extract(body, '{"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"], "additionalProperties": false}', max_tokens => 20) AS e,
       llm_generate(body, max_tokens => 12, json_schema => '{"type": "array", "items": {"type": "integer"}, "maxItems": 3}') AS g
  FROM notes;
SET llm.batch_rows = 1;
CREATE TEMP TABLE ex_single AS
SELECT id, llm_extract(body, '{"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"], "additionalProperties": false}', max_tokens => 20) AS e,
       llm_generate(body, max_tokens => 12, json_schema => '{"type": "array", "items": {"type": "integer"}, "maxItems": 3}') AS g
  FROM notes;
RESET llm.batch_rows;
SELECT count(*) AS rows, count(*) FILTER (WHERE b.e IS DISTINCT FROM s.e OR b.g IS DISTINCT FROM s.g) AS differ,
       count(*) FILTER (WHERE jsonb_typeof(b.e -> 'age') = 'number' AND jsonb_typeof(b.g::jsonb) = 'array') AS valid
  FROM ex_batched b JOIN ex_single s USING (id);
--
-- errors
--
-- unsupported keywords are named
SELECT llm_generate('x', json_schema => '{"type": "string", "pattern": "^a+$"}');
SELECT llm_extract('x', '{"type": "string", "format": "date"}');
-- bad numbers in the schema
SELECT llm_generate('x', json_schema => '{"type": "string", "minLength": -1}');
SELECT llm_generate('x', json_schema => '{"type": "integer", "minimum": 5, "maximum": 1}');
SELECT llm_generate('x', json_schema => '{"$ref": "#/$defs/nothing"}');
-- stop strings do not mix with a schema
SELECT llm_generate('x', stop => ARRAY['}'], json_schema => '{"type": "object"}');
-- max_tokens runs out before the value is complete: an error, never invalid JSON
SELECT llm_generate('Write a long sentence: ', max_tokens => 3,
                    json_schema => '{"type": "string", "minLength": 200}');
SELECT llm_extract('Anna is 31.', '{"type": "object", "properties": {"name": {"type": "string", "minLength": 50}}, "required": ["name"]}', max_tokens => 4);
\set VERBOSITY sqlstate
SELECT llm_generate('Write a long sentence: ', max_tokens => 3,
                    json_schema => '{"type": "string", "minLength": 200}');
SELECT llm_generate('x', json_schema => '{"type": "string", "pattern": "^a+$"}');
\set VERBOSITY default
SELECT llm_extract('x', NULL);
SELECT llm_extract('x', '{}', max_tokens => 0);
