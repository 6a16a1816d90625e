/*
 * kernels.c - CPU feature detection and choice of the kernel table.
 *
 * The scalar table (kernels_ref.c) is always filled first; when the CPU
 * and the caller allow it the AVX2 versions (kernels_avx2.c) replace the
 * entries they implement, then the AVX-512 VNNI packed products
 * (kernels_gemm8_avx512.c) replace the AVX2 ones. Nothing here keeps state: every caller owns its
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
#define LLM_CPUID7_AVX512F	(1u << 16)
#define LLM_CPUID7_AVX512BW	(1u << 30)
#define LLM_CPUID7_AVX512VL	(1u << 31)
#define LLM_CPUID7C_AVX512VNNI (1u << 11)	/* leaf 7 ecx */
#define LLM_CPUID71A_AVX512BF16 (1u << 5)	/* leaf 7 subleaf 1 eax */
/* XCR0: SSE, AVX (YMM upper halves), opmask, ZMM upper halves, ZMM16-31 */
#define LLM_XCR0_AVX		0x06u
#define LLM_XCR0_AVX512		0xe6u

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
	if ((kernels_xgetbv0() & LLM_XCR0_AVX) != LLM_XCR0_AVX)
		return 0;
	if (__get_cpuid_max(0, NULL) < 7)
		return 0;
	__cpuid_count(7, 0, eax, ebx, ecx, edx);
	return (ebx & LLM_CPUID7_AVX2) != 0;
}

/*
 * True when llm_cpu_has_avx2() and the CPU implements AVX-512 F, BW, VL
 * and VNNI, and the operating system saves the opmask and full ZMM state
 * (XCR0 bits 5, 6 and 7 besides 1 and 2).
 */
int
llm_cpu_has_avx512(void)
{
	unsigned int eax, ebx, ecx, edx;
	const unsigned int need7 = LLM_CPUID7_AVX512F | LLM_CPUID7_AVX512BW | LLM_CPUID7_AVX512VL;

	if (!llm_cpu_has_avx2())
		return 0;
	if ((kernels_xgetbv0() & LLM_XCR0_AVX512) != LLM_XCR0_AVX512)
		return 0;
	__cpuid_count(7, 0, eax, ebx, ecx, edx);
	return (ebx & need7) == need7 && (ecx & LLM_CPUID7C_AVX512VNNI) != 0;
}

/*
 * True when llm_cpu_has_avx512() and the CPU also implements AVX512_BF16
 * (vcvtne2ps2bf16, vdpbf16ps; cpuid leaf 7 subleaf 1, eax bit 5).
 */
int
llm_cpu_has_avx512_bf16(void)
{
	unsigned int eax, ebx, ecx, edx;

	if (!llm_cpu_has_avx512())
		return 0;
	if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx))
		return 0;
	return (eax & LLM_CPUID71A_AVX512BF16) != 0;
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

/*
 * Not an x86 CPU: no AVX-512.
 */
int
llm_cpu_has_avx512(void)
{
	return 0;
}

/*
 * Not an x86 CPU: no AVX-512 BF16.
 */
int
llm_cpu_has_avx512_bf16(void)
{
	return 0;
}

#endif

/*
 * Fill k with the best kernels allowed by want (NULL, "auto", "scalar",
 * "avx2" or "avx512"; an unknown name counts as "auto") and supported by
 * this CPU: "avx2" stops at AVX2, "avx512" and "auto" take AVX-512 when
 * the CPU has it; a level the CPU lacks falls back to the next one down.
 * Returns k->isa.
 */
const char *
llm_kernels_init(llm_kernels *k, const char *want)
{
	llm_kernels_init_scalar(k);
	if (want != NULL && strcmp(want, "scalar") == 0)
		return k->isa;
	if (!llm_cpu_has_avx2() || !llm_kernels_overlay_avx2(k))
		return k->isa;
	k->isa = "avx2";
	llm_kernels_pack_k_avx2(k);
	if (want != NULL && strcmp(want, "avx2") == 0)
		return k->isa;
	if (llm_cpu_has_avx512() && llm_kernels_overlay_avx512(k))
	{
		llm_kernels_pack_k_avx512(k);
		/* the same bits as the AVX2 table's attention helpers */
		llm_kernels_overlay_avx512_att(k);
	}
	return k->isa;
}
