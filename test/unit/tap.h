/*
 * tap.h - a minimal TAP producer for the engine's unit tests.
 *
 *   tap_plan(12);
 *   ok(cond, "what was checked %d", x);
 *   return tap_done();
 *
 * Each check prints "ok N - ..." or "not ok N - ..."; tap_plan(n), called
 * before the first check, prints "1..n" up front, and tap_done() returns
 * the process exit code: 1 if anything failed, unless exactly n checks
 * ran (skips count), or if no plan was declared up front. So a check that
 * vanishes, a run cut short, or a new program without a plan cannot go
 * unnoticed; a path that cannot run its checks skips as many
 * (tap_skip_n).
 */
#ifndef LLM_TAP_H
#define LLM_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int	tap_count;
static int	tap_failed;
static int	tap_planned = -1;
static int	tap_plan_late;

/*
 * Declare up front that the program runs exactly n checks (skips count).
 * A plan declared after a check has run fails the program.
 */
static inline void
tap_plan(int n)
{
	if (tap_count > 0)
		tap_plan_late = 1;
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline int
tap_ok(int cond, const char *fmt, ...)
{
	va_list		ap;

	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok((cond) ? 1 : 0, __VA_ARGS__)

/* print a diagnostic line */
#define diag(...) do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)

/* skip a check that cannot run here, with the reason */
#define skip(...) do { tap_count++; printf("ok %d # SKIP ", tap_count); printf(__VA_ARGS__); printf("\n"); } while (0)

/* skip n checks for one reason */
#define tap_skip_n(n, ...) do { int tap_i_, tap_n_ = (n); for (tap_i_ = 0; tap_i_ < tap_n_; tap_i_++) skip(__VA_ARGS__); } while (0)

/*
 * Finish: check that a plan was declared before the first check and that
 * exactly that many checks ran; return the process exit code (1 if
 * anything failed or either condition does not hold).
 */
static inline int
tap_done(void)
{
	if (tap_planned < 0)
	{
		printf("1..%d\n", tap_count);
		printf("# no tap_plan() before the first check: the count is not pinned\n");
		return 1;
	}
	if (tap_plan_late)
	{
		printf("# tap_plan() came after the first check\n");
		return 1;
	}
	if (tap_count != tap_planned)
	{
		printf("# planned %d checks, ran %d\n", tap_planned, tap_count);
		return 1;
	}
	return tap_failed ? 1 : 0;
}

/* directory holding the default model (LLM_MODEL_DIR or ~/.cache/llm) */
static inline const char *
tap_model_dir(void)
{
	static char buf[4096];
	const char *d = getenv("LLM_MODEL_DIR");

	if (d && *d)
		return d;
	snprintf(buf, sizeof(buf), "%s/.cache/llm", getenv("HOME") ? getenv("HOME") : "/root");
	return buf;
}

#endif							/* LLM_TAP_H */
