--
-- llm_models view, llm_load_model and llm_unload_model.
--
SELECT name, architecture, parameters, quantization, context_length, loaded,
       memory_bytes, is_default, chat_format
  FROM llm_models ORDER BY name;
-- where the loaded models run: the CPU (these tests run without a GPU, and
-- llm.device is auto), so no GPU memory
SELECT DISTINCT device, gpu_bytes FROM llm_models WHERE loaded;
SELECT path = current_setting('llm.model_dir') || '/' || current_setting('llm.default_model')
       AS path_in_model_dir
  FROM llm_models WHERE is_default;
-- a second copy under another name (relative path: inside llm.model_dir)
SELECT llm_load_model('second', current_setting('llm.default_model'));
SELECT name, loaded, is_default, context_length FROM llm_models ORDER BY name;
SELECT llm_generate('The capital of France is', max_tokens => 8, model => 'second')
     = llm_generate('The capital of France is', max_tokens => 8) AS same_output;
SELECT llm_load_model('second', current_setting('llm.default_model'));
SELECT llm_unload_model('second');
SELECT name FROM llm_models ORDER BY name;
SELECT llm_unload_model('second');
SELECT llm_generate('x', model => 'second');
-- bad arguments
SELECT llm_load_model('bad', 'does-not-exist.gguf');
SELECT llm_load_model('bad', '/etc/passwd');
SELECT llm_load_model('bad', '/tmp');
SELECT llm_load_model('bad', '');
SELECT llm_load_model('', 'x.gguf');
SELECT llm_load_model(NULL, 'x.gguf');
SELECT llm_load_model('bad', NULL);
SELECT llm_load_model(repeat('n', 64), 'x.gguf');
SELECT llm_unload_model(NULL);
SELECT name FROM llm_models ORDER BY name;
--
-- roles without pg_read_server_files load only from llm.model_dir
--
CREATE ROLE llm_regress_user;
-- loading is not granted to PUBLIC
SET ROLE llm_regress_user;
SELECT llm_load_model('u0', current_setting('llm.default_model'));
RESET ROLE;
GRANT EXECUTE ON FUNCTION llm_load_model(text, text), llm_unload_model(text)
  TO llm_regress_user;
SET ROLE llm_regress_user;
SELECT llm_load_model('u1', '/etc/passwd');
SELECT llm_load_model('u2', '../../../../../etc/passwd');
SELECT llm_load_model('u3', 'sub/../../x.gguf');
SELECT llm_load_model('u4', '.');
SELECT llm_load_model('u5', './' || current_setting('llm.default_model'));
SELECT name, loaded FROM llm_models WHERE name = 'u5';
SELECT llm_unload_model('u5');
RESET ROLE;
-- members of pg_read_server_files may name any file
GRANT pg_read_server_files TO llm_regress_user;
SET ROLE llm_regress_user;
SELECT llm_load_model('u6', '/etc/passwd');
RESET ROLE;
REVOKE pg_read_server_files FROM llm_regress_user;
REVOKE EXECUTE ON FUNCTION llm_load_model(text, text), llm_unload_model(text)
  FROM llm_regress_user;
DROP ROLE llm_regress_user;
