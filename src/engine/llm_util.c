/*
 * llm_util.c - error formatting, half-float conversion, clock, UTF-8 helper.
 */
#include "llm_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * Write a formatted message into err (LLM_ERRLEN bytes) and return -1, so
 * that callers can write "return llm_err(err, ...);".
 */
int
llm_err(char *err, const char *fmt, ...)
{
	va_list		ap;

	if (err != NULL)
	{
		va_start(ap, fmt);
		vsnprintf(err, LLM_ERRLEN, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Convert an IEEE 754 binary16 value to float. Subnormals, infinities and
 * NaNs are converted exactly.
 */
float
llm_fp16_to_fp32(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1f;
	uint32_t	man = h & 0x3ff;
	union { uint32_t u; float f; } v;

	if (exp == 0)
	{
		/* zero or subnormal: man * 2^-24 */
		float		f = ldexpf((float) man, -24);

		return sign ? -f : f;
	}
	if (exp == 31)
		v.u = sign | 0x7f800000u | (man << 13);
	else
		v.u = sign | ((exp + 112) << 23) | (man << 13);
	return v.f;
}

/*
 * Convert a float to IEEE binary16 with round-to-nearest-even, saturating
 * to infinity on overflow and keeping NaN a NaN.
 */
uint16_t
llm_fp32_to_fp16(float f)
{
	union { float f; uint32_t u; } v = {f};
	uint32_t	sign = (v.u >> 16) & 0x8000;
	uint32_t	abs = v.u & 0x7fffffffu;

	if (abs >= 0x7f800000u)		/* Inf or NaN */
		return (uint16_t) (sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
	if (abs >= 0x477ff000u)		/* rounds to >= 65520: overflow */
		return (uint16_t) (sign | 0x7c00);
	if (abs < 0x38800000u)		/* below the smallest normal half */
	{
		/* subnormal: value / 2^-24, rounded to nearest even */
		float		a;
		float		q;
		float		r;

		v.u = abs;
		a = v.f * 16777216.0f;	/* 2^24 */
		q = floorf(a);
		r = a - q;
		if (r > 0.5f || (r == 0.5f && fmodf(q, 2.0f) != 0.0f))
			q += 1.0f;
		return (uint16_t) (sign | (uint32_t) q);
	}
	{
		uint32_t	mant = abs & 0x7fffff;
		uint32_t	exp = (abs >> 23) - 112;
		uint32_t	h = (exp << 10) | (mant >> 13);
		uint32_t	rest = mant & 0x1fff;

		if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
			h++;				/* may carry into the exponent: still correct */
		return (uint16_t) (sign | h);
	}
}

/*
 * Convert a float to bfloat16 with round-to-nearest-even; NaN stays NaN.
 */
uint16_t
llm_fp32_to_bf16(float f)
{
	union { float f; uint32_t u; } v = {f};

	if ((v.u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t) ((v.u >> 16) | 0x40);
	return (uint16_t) ((v.u + 0x7fff + ((v.u >> 16) & 1)) >> 16);
}

/*
 * Seconds from an arbitrary origin on the monotonic clock.
 */
double
llm_time_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/*
 * Return the length of the longest prefix of buf that does not end inside
 * an incomplete UTF-8 sequence. Invalid bytes count as complete characters
 * so that malformed output is passed through rather than held forever.
 */
size_t
llm_utf8_complete_prefix(const char *buf, size_t len)
{
	size_t		i;
	size_t		back;

	/* look at most 3 bytes back for the start of the last sequence */
	for (back = 1; back <= 4 && back <= len; back++)
	{
		unsigned char c = (unsigned char) buf[len - back];
		size_t		need;

		if ((c & 0xc0) == 0x80)
			continue;			/* continuation byte: keep looking */
		if (c < 0x80)
			need = 1;
		else if ((c & 0xe0) == 0xc0)
			need = 2;
		else if ((c & 0xf0) == 0xe0)
			need = 3;
		else if ((c & 0xf8) == 0xf0)
			need = 4;
		else
			return len;			/* invalid lead byte: pass through */
		i = len - back;
		return back >= need ? len : i;
	}
	return len;
}
