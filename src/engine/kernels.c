/*
 * kernels.c - CPU feature detection and choice of the kernel table.
 *
 * The scalar table (kernels_ref.c) is always filled first; when the CPU
 * and the caller allow it the AVX2 versions (kernels_avx2.c) replace the
 * entries they implement. Nothing here keeps state: every caller owns its
 * llm_kernels.
 */
#include "kernels.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* feature bits (cpuid leaf 1 ecx, leaf 7 ebx) */
#define LLM_CPUID1_FMA		(1u << 12)
#define LLM_CPUID1_OSXSAVE	(1u << 27)
#define LLM_CPUID1_AVX		(1u << 28)
#define LLM_CPUID1_F16C		(1u << 29)
#define LLM_CPUID7_AVX2		(1u << 5)

/*
 * Read extended control register 0 (which register states the OS saves).
 * Only valid when cpuid reports OSXSAVE.
 */
static uint64_t
kernels_xgetbv0(void)
{
	uint32_t	lo;
	uint32_t	hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t) hi << 32) | lo;
}

/*
 * True when the CPU implements AVX2, FMA and F16C and the operating system
 * saves the YMM registers on context switches (XCR0 bits 1 and 2).
 */
int
llm_cpu_has_avx2(void)
{
	unsigned int eax, ebx, ecx, edx;
	const unsigned int need1 = LLM_CPUID1_FMA | LLM_CPUID1_OSXSAVE |
		LLM_CPUID1_AVX | LLM_CPUID1_F16C;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return 0;
	if ((ecx & need1) != need1)
		return 0;
	if ((kernels_xgetbv0() & 6) != 6)
		return 0;
	if (__get_cpuid_max(0, NULL) < 7)
		return 0;
	__cpuid_count(7, 0, eax, ebx, ecx, edx);
	return (ebx & LLM_CPUID7_AVX2) != 0;
}

#else

/*
 * Not an x86 CPU: no AVX2.
 */
int
llm_cpu_has_avx2(void)
{
	return 0;
}

#endif

/*
 * Fill k with the best kernels allowed by want (NULL, "auto", "scalar" or
 * "avx2"; an unknown name counts as "auto") and supported by this CPU;
 * "avx2" on a CPU without it falls back to scalar. Returns k->isa.
 */
const char *
llm_kernels_init(llm_kernels *k, const char *want)
{
	llm_kernels_init_scalar(k);
	if (want != NULL && strcmp(want, "scalar") == 0)
		return k->isa;
	if (llm_cpu_has_avx2() && llm_kernels_overlay_avx2(k))
		k->isa = "avx2";
	return k->isa;
}
