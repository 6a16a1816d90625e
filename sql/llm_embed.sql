--
-- llm_embed: sentence embeddings from the default embedding model
-- (all-MiniLM-L6-v2, loaded from llm.default_embedding_model).
--
-- cosine similarity of two real[] vectors
CREATE FUNCTION cosine(a real[], b real[]) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
  SELECT sum(x * y) / sqrt(sum(x * x) * sum(y * y))
    FROM unnest(a::float8[], b::float8[]) AS t(x, y)
$$;
SELECT array_length(llm_embed('Hello world'), 1) AS dim;
SELECT llm_embed(NULL) IS NULL AS null_gives_null;
-- unit length (the model's Normalize module)
SELECT round(sqrt(sum(x * x))::numeric, 5) AS norm
  FROM unnest(llm_embed('Hello world')::float8[]) AS x;
-- the vector sentence-transformers computes for 'Hello world'
-- (test/golden/embed_vectors.tsv)
SELECT cosine(llm_embed('Hello world'),
  '{-0.0344773,0.0310233,0.00673499,0.026109,-0.039362,-0.160302,0.066924,-0.00644149,-0.0474505,0.0147588,0.0708753,0.0555275,0.0191933,-0.0262513,-0.0101095,-0.0269405,0.0223074,-0.0222266,-0.149693,-0.017493,0.00767625,0.0543524,0.00325449,0.0317259,-0.0846214,-0.029406,0.0515956,0.0481241,-0.00331478,-0.0582792,0.0419692,0.0222107,0.128189,-0.022339,-0.0116563,0.0629284,-0.0328763,-0.0912261,-0.0311753,0.0526996,0.0470348,-0.0842031,-0.0300562,-0.0207449,0.00951782,-0.0037218,0.00734333,0.0393243,0.093274,-0.00378854,-0.0527421,-0.0580582,-0.00686439,0.00528323,0.082893,0.0193628,0.00628453,-0.0103308,0.00903238,-0.0376837,-0.0452061,0.0240163,-0.00694416,0.0134916,0.100055,-0.0716838,-0.0216951,0.0316185,-0.0516347,-0.0822477,-0.0656933,-0.0098954,0.0058164,0.0735545,-0.0340503,0.0248861,0.0144881,0.0264574,0.00965674,0.0302173,0.0528039,-0.0753599,0.00989718,0.0298368,0.0175555,0.023092,0.00193385,0.00140015,-0.047176,-0.0111943,-0.114201,-0.019812,0.0402663,0.00219301,-0.0797922,-0.0253823,0.094483,-0.0289811,-0.145003,0.230977,0.0277312,0.0321115,0.031065,0.0428328,0.0642378,0.0321631,-0.00487679,0.0556995,-0.0375324,-0.0215055,-0.0283427,-0.0288469,0.0383531,-0.0174687,0.0524853,-0.074876,-0.0312598,0.0218416,-0.0398956,-0.00858713,0.0269566,-0.0484955,0.0114699,0.0296182,-0.0205722,0.0131039,0.0288335,-3.1942e-33,0.0647821,-0.0181302,0.05179,0.121983,0.0287802,0.00872196,-0.0705212,-0.0169073,0.0407397,0.0421162,0.0254472,0.0357463,-0.0491448,0.00212904,-0.0155466,0.0507306,-0.0481853,0.0358806,-0.00406701,0.101725,-0.05597,-0.010681,0.0112358,0.0906865,0.00423446,0.0351387,-0.00970288,-0.0938652,0.0928556,0.00800493,-0.0077054,-0.0520867,-0.012588,0.00326694,0.00601358,0.00758157,0.0105172,-0.0863456,-0.0698788,-0.00253393,-0.0909766,0.0468873,0.0520765,0.00719384,0.0109037,-0.00522948,0.0139373,0.0219683,0.0342086,0.0602247,0.000116663,0.014732,-0.0700893,0.028499,-0.0276017,0.0107684,0.0348309,-0.0224879,0.00976903,0.0772278,0.0215884,0.114956,-0.0680012,0.023761,-0.015984,-0.0178269,0.0643949,0.0320257,0.0502703,-0.00591372,-0.0337081,0.0178403,0.0165733,0.0632966,0.0346772,0.0464735,0.0979061,-0.00663552,0.025207,-0.0779883,0.0169264,-0.000945835,0.0224719,-0.0382532,0.0957048,-0.00535084,0.0104691,-0.115241,-0.0132625,-0.0107095,-0.0831173,0.0732736,0.0493922,-0.00899436,-0.0958456,3.36615e-33,0.124932,0.0193497,-0.0582257,-0.0359882,-0.0507468,-0.0456623,-0.0826034,0.148195,-0.0884212,0.0602744,0.0510302,0.0103032,0.141214,0.0308138,0.0610331,-0.0528513,0.136649,0.00918985,-0.0173252,-0.0128486,-0.0079953,-0.05098,-0.0523506,0.00759302,-0.0151663,0.0169604,0.0212705,0.020558,-0.120028,0.0144618,0.0267599,0.0253307,-0.0427546,0.00676847,-0.0144586,0.045262,-0.0914766,-0.0194391,-0.0178335,-0.0549101,-0.052641,-0.0104591,-0.0520161,0.020892,-0.0799703,-0.0121113,-0.0577314,0.0231783,-0.0080317,-0.0259893,-0.0799567,-0.0207288,0.0488177,-0.0203891,-0.0491766,0.0141597,-0.063622,-0.00780744,0.0164315,-0.0256825,0.0133811,0.0262488,0.00997839,0.0632288,0.00267219,-0.00658278,0.0166319,0.0323664,0.0379425,-0.0363761,-0.0069109,0.000159715,-0.00163356,-0.0272782,-0.028038,0.0496815,-0.0288672,-0.00241808,0.0147749,0.00976458,0.00579763,0.0134862,0.00556789,0.0372271,0.00723254,0.0401563,0.0815033,0.0719917,-0.0130562,-0.0428821,-0.0110112,0.0048978,-0.00922974,0.0351915,-0.0510351,-1.57144e-08,-0.0886244,0.0239093,-0.0162387,0.0317005,0.0272842,0.0524688,-0.0470709,-0.0588474,-0.0632082,0.0408885,0.049828,0.106552,-0.0745023,-0.0124954,0.0183707,0.0394741,-0.0247979,0.0145163,-0.0370692,0.0200157,-4.86007e-05,0.00986653,0.0248388,-0.0524581,0.0293142,-0.0871919,-0.0144997,0.0260191,-0.0187463,-0.0762052,0.0350433,0.103639,-0.0280505,0.0127182,-0.0763255,-0.0186524,0.0249767,0.0814453,0.0687588,-0.0640566,-0.0838938,0.0613623,-0.0335455,-0.106153,-0.0400806,0.0325303,0.0766248,-0.0730162,0.000337607,-0.0408716,-0.0757885,0.0275276,0.0746254,0.0177173,0.0912185,0.11022,0.000569809,0.0514633,-0.0145513,0.033232,0.0237923,-0.0228898,0.0389375,0.0302068}'::real[]) >= 0.9999 AS matches_sentence_transformers;
-- meaning: paraphrases are closer than unrelated sentences
SELECT cosine(llm_embed('A man is eating food.'), llm_embed('A man is eating a piece of bread.'))
     > cosine(llm_embed('A man is eating food.'), llm_embed('The girl is carrying a baby.'))
       AS paraphrase_is_closer;
-- the empty string is a valid input ([CLS] [SEP])
SELECT array_length(llm_embed(''), 1) AS empty_dim;
-- the same text gives the same bits, whatever else is in the batch
SELECT ord, array_length(embedding, 1) AS dim,
       embedding = llm_embed(t) AS same_as_alone
  FROM llm_embed_batch(ARRAY['Hello world', NULL, 'Übermäßig große Äpfel',
                             'これは日本語の文です。', repeat('long text ', 50)]) b
  JOIN unnest(ARRAY['Hello world', NULL, 'Übermäßig große Äpfel',
                    'これは日本語の文です。', repeat('long text ', 50)])
       WITH ORDINALITY AS u(t, o) ON u.o = b.ord
 ORDER BY ord;
SELECT count(*) FROM llm_embed_batch(ARRAY[]::text[]);
SELECT count(*) FROM llm_embed_batch(NULL);
-- the model by name, and the view
SELECT array_length(llm_embed('Hello world', 'all-MiniLM-L6-v2'), 1) AS dim_by_name;
SELECT name, architecture, embedding_dim, pooling, is_default_embedding, chat_format
  FROM llm_models WHERE embedding_dim IS NOT NULL AND architecture = 'bert';
-- the model's own tokenizer, [CLS] and [SEP] included
SELECT llm_tokenize('Hello world', 'all-MiniLM-L6-v2');
-- a generation model gives embeddings too (mean pooling of its hidden
-- states), and then shows them in llm_models
SELECT array_length(llm_embed('Hello world', 'SmolLM2-135M-Instruct.Q4_1'), 1) AS decoder_dim;
SELECT name, embedding_dim, pooling FROM llm_models
 WHERE name = 'SmolLM2-135M-Instruct.Q4_1';
-- statistics
SELECT embedded_texts > 0 AS counted, embed_batches > 0 AS batched,
       embedded_tokens >= embedded_texts * 2 AS tokens_counted
  FROM llm_stats;
-- errors
SELECT llm_embed('x', 'no_such_model');
SELECT llm_generate('Hello', model => 'all-MiniLM-L6-v2');
SELECT * FROM llm_embed_batch(ARRAY[ARRAY['a', 'b'], ARRAY['c', 'd']]);
-- text longer than the model's 256 tokens: llm.truncation decides
SET llm.truncation = 'error';
SELECT llm_embed(repeat('word ', 600));
-- right keeps the start: texts differing only at the end embed the same
SET llm.truncation = 'right';
SELECT llm_embed('alpha ' || repeat('word ', 600) || 'end')
     = llm_embed('alpha ' || repeat('word ', 600) || 'fin') AS right_cuts_end,
       llm_embed('alpha ' || repeat('word ', 600))
    <> llm_embed('omega ' || repeat('word ', 600)) AS right_keeps_start;
-- left keeps the end: texts differing only at the start embed the same
SET llm.truncation = 'left';
SELECT llm_embed('alpha ' || repeat('word ', 600) || 'end')
     = llm_embed('omega ' || repeat('word ', 600) || 'end') AS left_cuts_start,
       llm_embed(repeat('word ', 600) || 'end')
    <> llm_embed(repeat('word ', 600) || 'fin') AS left_keeps_end;
RESET llm.truncation;
-- a text that is too long fails the statement (the other text is fine)
SELECT count(*) FROM llm_embed_batch(ARRAY['fine', repeat('word ', 600)]);
-- a generation model embeds at most its usable context (llm.ctx_size at
-- load): a copy loaded with 16 tokens refuses or cuts longer texts
SET llm.ctx_size = 16;
SELECT llm_load_model('ctx16', current_setting('llm.default_model'));
RESET llm.ctx_size;
SET llm.truncation = 'error';
SELECT llm_embed(repeat('word ', 40), 'ctx16');
SELECT array_length(llm_embed('short text', 'ctx16'), 1) AS short_fits;
SET llm.truncation = 'right';
SELECT llm_embed('alpha ' || repeat('word ', 40) || 'end', 'ctx16')
     = llm_embed('alpha ' || repeat('word ', 40) || 'fin', 'ctx16') AS cut_to_16;
RESET llm.truncation;
SELECT llm_unload_model('ctx16');
-- malformed model directories are rejected with the reason
SELECT llm_load_model('bad1', 'bad-config');
SELECT llm_load_model('bad2', 'bad-safetensors');
SELECT llm_load_model('bad3', 'no-such-dir');
-- unloading fails later requests cleanly, loading brings it back
SELECT llm_unload_model('all-MiniLM-L6-v2');
SELECT llm_embed('Hello world');
SELECT llm_load_model('minilm', 'all-MiniLM-L6-v2');
SELECT array_length(llm_embed('Hello world', 'minilm'), 1) AS dim_after_reload;
SELECT llm_unload_model('minilm');
DROP FUNCTION cosine(real[], real[]);
