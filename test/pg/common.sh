# test/pg/common.sh - shared setup of the PostgreSQL test scripts (sourced).
#
# LLM_MODEL         the default model file (real GGUF);
#                   default /root/.cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf
# LLM_PG_MODEL_DIR  directory the server reads models from; the model is
#                   linked (or copied) there so that the postgres user can
#                   read it; default /tmp/llm-pg-models
# LLM_EMBED_MODEL   the default embedding model (sentence-transformers
#                   directory); default /root/.cache/llm/all-MiniLM-L6-v2
# LLM_PG_THREADS    llm.threads of the test server (default 1)
# LLM_PG_NO_BUILD   set to 1 to test the llm.so already installed (e.g. a
#                   sanitizer build) instead of building and installing
#
# llm_pg_prepare    build and install the extension, prepare the model dir
# llm_pg_virtualenv run a command inside a throw-away cluster (Debian's
#                   pg_virtualenv) configured for the extension

# The suites install llm.so into PostgreSQL's own directories, so two of
# them (say from two checkouts) must not run at once: each holds a lock on
# /tmp/llm-pg-suite.lock while it runs (nested scripts share it).
if [ -z "${LLM_PG_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
	exec 9>/tmp/llm-pg-suite.lock
	flock 9
	export LLM_PG_LOCKED=1
fi

LLM_MODEL=${LLM_MODEL:-/root/.cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf}
LLM_PG_MODEL_DIR=${LLM_PG_MODEL_DIR:-/tmp/llm-pg-models}
LLM_PG_THREADS=${LLM_PG_THREADS:-1}
LLM_EMBED_MODEL=${LLM_EMBED_MODEL:-/root/.cache/llm/all-MiniLM-L6-v2}
LLM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export LLM_MODEL LLM_PG_MODEL_DIR LLM_PG_THREADS LLM_REPO LLM_EMBED_MODEL

# fail (exit 1 with a message) when the model or PostgreSQL tools are
# absent: a suite that cannot run must not report success
llm_pg_require() {
	if [ ! -r "$LLM_MODEL" ]; then
		echo "FAIL: model $LLM_MODEL not found (set LLM_MODEL, or run scripts/fetch-models.sh)" >&2
		exit 1
	fi
	if [ ! -r "$LLM_EMBED_MODEL/config.json" ]; then
		echo "FAIL: embedding model $LLM_EMBED_MODEL not found (set LLM_EMBED_MODEL, or run scripts/fetch-models.sh)" >&2
		exit 1
	fi
	for tool in pg_config pg_virtualenv psql; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "FAIL: $tool not installed (run scripts/install-deps.sh)" >&2
			exit 1
		fi
	done
}

llm_pg_prepare() {
	llm_pg_require
	if [ "${LLM_PG_NO_BUILD:-0}" != 1 ]; then
		(cd "$LLM_REPO" && make -s -f pg.mk && make -s -f pg.mk install) >/dev/null
	fi
	mkdir -p "$LLM_PG_MODEL_DIR"
	chmod 755 "$LLM_PG_MODEL_DIR"
	LLM_MODEL_FILE=$(basename "$LLM_MODEL")
	export LLM_MODEL_FILE
	if [ ! -r "$LLM_PG_MODEL_DIR/$LLM_MODEL_FILE" ] ||
		! cmp -s "$LLM_MODEL" "$LLM_PG_MODEL_DIR/$LLM_MODEL_FILE"; then
		rm -f "$LLM_PG_MODEL_DIR/$LLM_MODEL_FILE"
		ln "$LLM_MODEL" "$LLM_PG_MODEL_DIR/$LLM_MODEL_FILE" 2>/dev/null ||
			cp "$LLM_MODEL" "$LLM_PG_MODEL_DIR/$LLM_MODEL_FILE"
	fi
	chmod a+r "$LLM_PG_MODEL_DIR/$LLM_MODEL_FILE"

	# the embedding model (a directory), and two broken copies of it for
	# the error tests: a config that is not JSON, a truncated safetensors
	LLM_EMBED_NAME=$(basename "$LLM_EMBED_MODEL")
	export LLM_EMBED_NAME
	local d=$LLM_PG_MODEL_DIR/$LLM_EMBED_NAME f
	mkdir -p "$d"
	for f in "$LLM_EMBED_MODEL"/*.json "$LLM_EMBED_MODEL"/*.txt "$LLM_EMBED_MODEL"/model.safetensors \
		"$LLM_EMBED_MODEL"/1_Pooling "$LLM_EMBED_MODEL"/2_Normalize; do
		[ -e "$f" ] && cp -r "$f" "$d/"
	done
	rm -rf "$LLM_PG_MODEL_DIR/bad-config" "$LLM_PG_MODEL_DIR/bad-safetensors"
	cp -r "$d" "$LLM_PG_MODEL_DIR/bad-config"
	printf '{"hidden_size": 384, "num_hidden_layers": ' >"$LLM_PG_MODEL_DIR/bad-config/config.json"
	cp -r "$d" "$LLM_PG_MODEL_DIR/bad-safetensors"
	head -c 100000 "$d/model.safetensors" >"$LLM_PG_MODEL_DIR/bad-safetensors/model.safetensors"
	chmod -R a+rX "$LLM_PG_MODEL_DIR"
}

# llm_pg_virtualenv [-o guc=value ...] command...
llm_pg_virtualenv() {
	pg_virtualenv \
		-o shared_preload_libraries=llm \
		-o "llm.model_dir=$LLM_PG_MODEL_DIR" \
		-o "llm.default_model=$LLM_MODEL_FILE" \
		-o "llm.default_embedding_model=$LLM_EMBED_NAME" \
		-o "llm.threads=$LLM_PG_THREADS" \
		-o llm.ctx_size=1024 \
		-o max_connections=60 \
		"$@"
}
