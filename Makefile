# Makefile for llm: the engine (plain C library + llm-cli) and the
# PostgreSQL extension (llm.so, built by PGXS through pg.mk).
#
#   make            build build/libllmengine.a, build/llm-cli, when
#                   pg_config is found the extension llm.so, and when nvcc
#                   is found the CUDA backend build/llm_cuda.so (kernels/)
#   make NVCC= ...  the same without the CUDA backend
#   make check      build and run the engine unit tests (test/unit)
#   make SAN=1 ...  same, built with AddressSanitizer + UBSan into build-san/
#   make install    install llm-cli into $(PREFIX)/bin and the extension
#                   into PostgreSQL's directories
#   make pg-check   the extension's tests (pg_regress, TAP, concurrency)
#   make fuzz       libFuzzer targets build/fuzz/fuzz_* from test/fuzz/*.c
#                   (needs clang; test/fuzz/run.sh builds and runs them)
#
# No -march=native: AVX2 code lives in src/engine/*_avx2.c files compiled with
# -mavx2 -mfma -mf16c, AVX-512 code in src/engine/*_avx512.c files compiled
# with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512bf16 -mfma -mf16c;
# both are chosen at run time after a cpuid check.

CC      ?= cc
PREFIX  ?= /usr/local
PYTHON  ?= python3

ifeq ($(SAN),1)
BUILD   ?= build-san
OPT     ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
BUILD   ?= build
OPT     ?= -O2 -g
LDSAN   :=
endif

CFLAGS_COMMON := -std=gnu11 $(OPT) -fPIC -Wall -Wextra -Wno-unused-parameter \
                 -Wshadow=local -Wstrict-prototypes -pthread -Isrc/engine
CFLAGS  ?=
ALL_CFLAGS := $(CFLAGS_COMMON) $(CFLAGS)
AVX2_FLAGS := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512bf16 -mfma -mf16c
LDLIBS  := -lpcre2-8 -lutf8proc -lm -lpthread -ldl

# The three layers: src/engine (the engine library, no PostgreSQL
# headers), src/cli (llm-cli, on the engine's public headers) and src/pg
# (the extension, built by pg.mk).
ENGINE_SRC := $(wildcard src/engine/*.c)
ENGINE_HDR := $(wildcard src/engine/*.h)
ENGINE_OBJ := $(patsubst src/engine/%.c,$(BUILD)/obj/%.o,$(ENGINE_SRC))
CLI_SRC    := $(wildcard src/cli/*.c)
LIB        := $(BUILD)/libllmengine.a
CLI        := $(BUILD)/llm-cli

UNIT_SRC   := $(wildcard test/unit/test_*.c)
UNIT_BIN   := $(patsubst test/unit/%.c,$(BUILD)/test/%,$(UNIT_SRC))

.PHONY: all engine cli unit check fixtures install clean pg pg-install pg-check fuzz cuda

# The CUDA backend: build/llm_cuda.so from kernels/*.cu (nvcc) and the host
# file kernels/backend.c ($(CC)), built by "all" when nvcc is found (on the
# PATH or in /usr/local/cuda/bin); "make NVCC=" skips it. The engine opens
# it with dlopen at run time (src/engine/engine.c), so nothing else links
# CUDA. sm_90 code (H100/H200) plus PTX for later GPUs (the driver compiles
# it); CUDA_ARCH replaces the list.
NVCC      ?= $(shell command -v nvcc 2>/dev/null || (test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc))
CUDA_HOME ?= $(if $(NVCC),$(patsubst %/bin/,%,$(dir $(NVCC))))
CUDA_ARCH ?= -gencode arch=compute_90,code=[sm_90,compute_90]
CUDA_SRC  := $(wildcard kernels/*.cu)
CUDA_HOST := $(wildcard kernels/*.c)
CUDA_HDR  := $(wildcard kernels/*.h kernels/*.cuh) $(ENGINE_HDR)
CUDA_OBJ  := $(patsubst kernels/%.cu,$(BUILD)/cuda/%.o,$(CUDA_SRC)) \
             $(patsubst kernels/%.c,$(BUILD)/cuda/%.o,$(CUDA_HOST))
CUDA_MOD  := $(BUILD)/llm_cuda.so
# never sanitized (SAN=1): the module is linked by nvcc, without those runtimes
CUDA_CFLAGS := -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra \
             -Wno-unused-parameter -Wshadow=local -Wstrict-prototypes -pthread -Isrc/engine
NVCCFLAGS := -O2 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC,-fvisibility=hidden \
             -Isrc/engine -Ikernels

ifneq ($(NVCC),)
all: $(CUDA_MOD)
cuda: $(CUDA_MOD)
# the kernels' block arithmetic checked on the host (no GPU needed); not
# in the sanitizer build (nvcc links without the sanitizer runtimes)
ifneq ($(SAN),1)
UNIT_BIN += $(BUILD)/test/test_cuda_layout
endif
else
cuda:
	@echo "make cuda: nvcc not found; the CUDA backend (llm_cuda.so) is not built" >&2
endif

$(BUILD)/cuda/%.o: kernels/%.cu $(CUDA_HDR) | $(BUILD)/cuda
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(BUILD)/cuda/%.o: kernels/%.c $(CUDA_HDR) | $(BUILD)/cuda
	$(CC) $(CUDA_CFLAGS) -Ikernels -I$(CUDA_HOME)/include -c $< -o $@

$(BUILD)/test/test_cuda_layout: test/unit/test_cuda_layout.cu test/unit/tap.h $(CUDA_HDR) $(LIB) | $(BUILD)/test
	$(NVCC) -O1 -std=c++17 -Isrc/engine -Ikernels -Itest/unit $< -o $@ $(LIB) $(LDLIBS)

$(CUDA_MOD): $(CUDA_OBJ)
	$(NVCC) -shared $(CUDA_ARCH) -o $@ $(CUDA_OBJ) -ldl \
		-Xlinker --exclude-libs,ALL -Xlinker -rpath,$(CUDA_HOME)/lib64

$(BUILD)/cuda:
	mkdir -p $@

PG_CONFIG ?= pg_config
HAVE_PG := $(shell command -v $(PG_CONFIG) >/dev/null 2>&1 && echo yes)

all: $(LIB) $(CLI)
ifeq ($(HAVE_PG)$(SAN),yes)
all: pg
endif

engine: $(LIB)
cli: $(CLI)

$(BUILD)/obj/%_avx2.o: src/engine/%_avx2.c $(ENGINE_HDR) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(BUILD)/obj/%_avx512.o: src/engine/%_avx512.c $(ENGINE_HDR) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) $(AVX512_FLAGS) -c $< -o $@

$(BUILD)/obj/%.o: src/engine/%.c $(ENGINE_HDR) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(ENGINE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(CLI): $(CLI_SRC) $(ENGINE_HDR) $(LIB)
	$(CC) $(ALL_CFLAGS) $(CLI_SRC) -o $@ $(LIB) $(LDSAN) $(LDLIBS)

$(BUILD)/test/%: test/unit/%.c test/unit/tap.h test/unit/golden.h $(LIB) | $(BUILD)/test
	$(CC) $(ALL_CFLAGS) -Itest/unit $< -o $@ $(LIB) $(LDSAN) $(LDLIBS)

$(BUILD)/obj $(BUILD)/test:
	mkdir -p $@

unit: $(UNIT_BIN) $(CLI)

# Generated GGUF fixtures (tiny models, malformed files) - never committed.
FIXDIR := build/fixtures
fixtures: $(FIXDIR)/.stamp
$(FIXDIR)/.stamp: $(wildcard test/fixtures/*.py test/golden/make_tokenizer_golden.py)
	mkdir -p $(FIXDIR)
	$(PYTHON) test/fixtures/make_fixtures.py $(FIXDIR)
	$(PYTHON) test/fixtures/make_quant_vectors.py $(FIXDIR)
	$(PYTHON) test/fixtures/make_qwen3_fixture.py $(FIXDIR)
	$(PYTHON) test/golden/make_tokenizer_golden.py $(FIXDIR)
	touch $@

check: unit fixtures
	BUILD=$(BUILD) test/run-unit.sh $(UNIT_BIN)

# libFuzzer targets: the engine rebuilt by clang with the fuzzer's coverage
# instrumentation and ASan + UBSan into build/fuzz/obj, one executable per
# test/fuzz/fuzz_*.c. Separate from "all": only this target needs clang.
FUZZ_CC    ?= clang
FUZZ_DIR   := build/fuzz
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_FLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -fPIC -pthread \
              -Isrc/engine $(FUZZ_SAN)
FUZZ_SRC   := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BIN   := $(patsubst test/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRC))
FUZZ_OBJ   := $(patsubst src/engine/%.c,$(FUZZ_DIR)/obj/%.o,$(ENGINE_SRC))
HAVE_CLANG := $(shell command -v $(FUZZ_CC) >/dev/null 2>&1 && echo yes)

ifeq ($(HAVE_CLANG),yes)
fuzz: $(FUZZ_BIN)
else
fuzz:
	@echo "make fuzz: $(FUZZ_CC) not found; libFuzzer targets need clang (FUZZ_CC=...)" >&2
	@exit 1
endif

$(FUZZ_DIR)/obj/%_avx2.o: src/engine/%_avx2.c $(ENGINE_HDR) | $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(AVX2_FLAGS) -c $< -o $@

$(FUZZ_DIR)/obj/%_avx512.o: src/engine/%_avx512.c $(ENGINE_HDR) | $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(AVX512_FLAGS) -c $< -o $@

$(FUZZ_DIR)/obj/%.o: src/engine/%.c $(ENGINE_HDR) | $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/libllmengine.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: test/fuzz/fuzz_%.c $(wildcard test/fuzz/*.h) $(ENGINE_HDR) $(FUZZ_DIR)/libllmengine.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Itest/fuzz $< -o $@ \
		$(FUZZ_DIR)/libllmengine.a $(LDLIBS)

$(FUZZ_DIR)/obj:
	mkdir -p $@

install: $(CLI)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/llm-cli
	if [ -f $(CUDA_MOD) ]; then install -d $(DESTDIR)$(PREFIX)/lib/llm && \
		install -m 755 $(CUDA_MOD) $(DESTDIR)$(PREFIX)/lib/llm/llm_cuda.so; fi
ifeq ($(HAVE_PG),yes)
	$(MAKE) -f pg.mk LLM_ENGINE_LIB=build/libllmengine.a install
endif

# The extension always links the normal (not sanitized) engine library.
# In a normal build that library is $(LIB) itself, so "pg" depends on it
# (a sub-make building the same objects would race "make -j" on them); in
# a sanitized build the normal library is made by a separate sub-make.
ifeq ($(SAN),1)
pg:
	$(MAKE) SAN= BUILD=build engine
	$(MAKE) -f pg.mk LLM_ENGINE_LIB=build/libllmengine.a
else
pg: $(LIB)
	$(MAKE) -f pg.mk LLM_ENGINE_LIB=$(LIB)
endif

pg-install: pg
	$(MAKE) -f pg.mk LLM_ENGINE_LIB=build/libllmengine.a install

pg-check: pg
	$(MAKE) -f pg.mk LLM_ENGINE_LIB=build/libllmengine.a pg-check

clean:
	rm -rf build build-san
	-$(MAKE) -f pg.mk clean
