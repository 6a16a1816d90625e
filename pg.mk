# pg.mk - PGXS build of the llm PostgreSQL extension.
#
#   make -f pg.mk                 build llm.so (needs build/libllmengine.a:
#                                 run "make engine" first)
#   make -f pg.mk install         install llm.so, llm.control and the SQL script
#   make -f pg.mk pg-check        all four suites below (pg-regress, pg-tap,
#                                 pg-concurrency, pg-isolation)
#   test/pg/run-regress.sh        pg_regress against a throw-away cluster
#   test/pg/run-tap.sh            TAP tests (test/t/*.pl), same way
#   test/pg/run-concurrency.sh    16 pgbench clients against one worker
#   test/pg/run-isolation.sh      isolation specs (test/isolation/specs)
#
# The regression tests need a server with shared_preload_libraries = 'llm'
# and a model, so PGXS's "installcheck" is driven by the scripts above
# (they create the cluster with pg_virtualenv and run "installcheck").

MODULE_big  = llm
OBJS        = $(patsubst %.c,%.o,$(wildcard src/pg/*.c))
PGFILEDESC  = "llm - LLM inference inside PostgreSQL"

EXTENSION   = llm
DATA        = sql/llm--0.1.0.sql

REGRESS     = llm_setup llm_generate llm_chat llm_batch llm_tokenize llm_models llm_errors llm_stats llm_rowbatch llm_embed llm_security llm_enrich llm_json
REGRESS_OPTS = --load-extension=llm

LLM_ENGINE_LIB ?= build/libllmengine.a
PG_CPPFLAGS  = -Isrc/pg -Isrc/engine
SHLIB_LINK   = $(LLM_ENGINE_LIB) -lpcre2-8 -lutf8proc -lm -lpthread -ldl
EXTRA_CLEAN  = src/pg/*.bc

# No LLVM bitcode for the JIT: nothing in these files is worth inlining.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# relink when the engine library changes
$(shlib): $(LLM_ENGINE_LIB)

# The CUDA backend module, when "make" built it (nvcc found): installed
# beside llm.so, where the worker opens it ($libdir/llm_cuda.so); an old
# copy is removed when this build has none, so llm.device = auto never
# opens a module of another build.
LLM_CUDA_MOD ?= build/llm_cuda.so
install: install-llm-cuda
.PHONY: install-llm-cuda
install-llm-cuda:
	if [ -f $(LLM_CUDA_MOD) ]; then \
		$(INSTALL_SHLIB) $(LLM_CUDA_MOD) '$(DESTDIR)$(pkglibdir)/llm_cuda.so'; \
	else rm -f '$(DESTDIR)$(pkglibdir)/llm_cuda.so'; fi

# Tests against throw-away clusters (see test/pg/*.sh; need the model).
.PHONY: pg-regress pg-tap pg-concurrency pg-isolation pg-check
pg-regress: all
	test/pg/run-regress.sh
pg-tap: all
	test/pg/run-tap.sh
pg-concurrency: all
	test/pg/run-concurrency.sh
pg-isolation: all
	test/pg/run-isolation.sh
pg-check: pg-regress pg-tap pg-concurrency pg-isolation

# rebuild the objects when any header changes (the engine's API included)
$(OBJS): $(wildcard src/pg/*.h src/engine/*.h)
