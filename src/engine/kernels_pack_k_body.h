/*
 * kernels_pack_k_body.h - the packed K-quant super-block products of
 * kernels_pack_k_simd.h, written once for both vector widths: included
 * there with PKW 256 (one group of 8 rows per vector) and, with VNNI,
 * PKW 512 (two adjacent groups, gap bytes apart). PKV(op) names the
 * width's operation pk<PKW>_op; every lane does the same operations in
 * both widths. No include guard: it is meant to be included twice.
 */
#define PK_CAT3(a, b, c) a##b##c
#define PK_X3(a, b, c) PK_CAT3(a, b, c)
#define PKV(op) PK_X3(pk, PKW, _##op)

/*
 * The fifth bits of sub-block j of a q5_K x8 qh vector, as 0 or 16 per
 * byte (bit j of each byte moved to bit 4; 16-bit shifts of at most 4
 * keep bit 4 of every byte within its byte).
 */
PK_INL PKV(vi)
PKV(q5_bit) (PKV(vi) qh, int j)
{
	PKV(vi)		t = j < 4 ? PKV(slli16) (qh, 4 - j) : PKV(srli16) (qh, j - 4);

	return PKV(and) (t, PKV(set1_8) (0x10));
}

/*
 * Weight vector (p, h, e) of a q4_K x8 / q5_K x8 super-block b: elements
 * 64 p + 32 h + 4 e .. + 3 of every row as unsigned quants (with 512
 * bits also of the next group, gap bytes on).
 */
PK_INL PKV(vi)
PKV(k4_w) (const bool q5, const char *b, size_t gap, int p, int h, int e)
{
	const llm_block_q5_Kx8 *b5 = (const llm_block_q5_Kx8 *) b;
	const uint8_t *qs = q5 ? b5->qs : ((const llm_block_q4_Kx8 *) b)->qs;
	PKV(vi)		w = PKV(ld) (qs + 32 * (8 * p + e), gap);

	w = PKV(and) (h ? PKV(srli16) (w, 4) : w, PKV(set1_8) (0x0f));
	if (q5)
		w = PKV(or) (w, PKV(q5_bit) (PKV(ld) (b5->qh + 32 * e, gap), 2 * p + h));
	return w;
}

/*
 * Weight vector (hf, k, t) of a q6_K x8 super-block b: elements 128 hf +
 * 32 k + 4 t .. + 3 of every row as unsigned six-bit quants.
 */
PK_INL PKV(vi)
PKV(q6_w) (const llm_block_q6_Kx8 *b, size_t gap, int hf, int k, int t)
{
	const PKV(vi) m4 = PKV(set1_8) (0x0f),
				m30 = PKV(set1_8) (0x30);
	PKV(vi)		ql = PKV(ld) (b->ql + 32 * (16 * hf + t + 8 * (k & 1)), gap);
	PKV(vi)		qh = PKV(ld) (b->qh + 32 * (8 * hf + t), gap);
	PKV(vi)		lo = PKV(and) (k >= 2 ? PKV(srli16) (ql, 4) : ql, m4);
	PKV(vi)		hi;

	hi = k == 0 ? PKV(slli16) (qh, 4) : k == 1 ? PKV(slli16) (qh, 2) :
		k == 2 ? qh : PKV(srli16) (qh, 2);
	return PKV(or) (lo, PKV(and) (hi, m30));
}

/*
 * The 64 weight vectors of every super-block of a group (pair) x of nb
 * super-blocks, decoded once into uq (64 per super-block, in the order
 * the block products read them) for tiles that share them.
 */
PK_INL void
PKV(decode) (const int kind, int64_t nb, const char *x, size_t gap, PKV(vi) *uq)
{
	const size_t bsz = kind == 4 ? sizeof(llm_block_q4_Kx8) : kind == 5 ?
		sizeof(llm_block_q5_Kx8) : sizeof(llm_block_q6_Kx8);

	for (int64_t i = 0; i < nb; i++)
	{
		const char *b = x + (size_t) i * bsz;
		PKV(vi)	   *u = uq + 64 * i;

		if (kind == 6)
		{
			#pragma GCC unroll 2
			for (int hf = 0; hf < 2; hf++)
				#pragma GCC unroll 4
				for (int k = 0; k < 4; k++)
					#pragma GCC unroll 8
					for (int t = 0; t < 8; t++)
						u[8 * (4 * hf + k) + t] = PKV(q6_w) ((const llm_block_q6_Kx8 *) b, gap, hf, k, t);
		}
		else
		{
			#pragma GCC unroll 4
			for (int p = 0; p < 4; p++)
				#pragma GCC unroll 2
				for (int h = 0; h < 2; h++)
					#pragma GCC unroll 8
					for (int e = 0; e < 8; e++)
						u[8 * (2 * p + h) + e] = PKV(k4_w) (kind == 5, b, gap, p, h, e);
		}
	}
}

/*
 * One super-block b of a q4_K x8 / q5_K x8 group (and of the next one,
 * gap bytes on, with 512 bits) against the C activation blocks a[c]
 * (a_stride apart), its weight vectors decoded or (uq) from PKV(decode):
 * the exact sumq[c] and summ[c] of every row (see
 * kernels_pack_k_ref.c). Bounds of the AVX2 int16 sums: q4_K 8 slices of
 * 2 * 15 * 128 = 30720, q5_K 4 slices of 2 * 31 * 128 = 31744.
 */
PK_INL void
PKV(k4_block) (const bool q5, const int C, const char *b, size_t gap, const PKV(vi) *uq,
			   const char *a, size_t a_stride, PKV(vi) *sumq, PKV(vi) *summ)
{
	const llm_block_q4_Kx8 *b4 = (const llm_block_q4_Kx8 *) b;
	const llm_block_q5_Kx8 *b5 = (const llm_block_q5_Kx8 *) b;
	PKV(vi)		pv[8];

	PKV(k4_scales) (q5 ? b5->scales : b4->scales, gap, pv);
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
	{
		const int16_t *bs = ((const llm_block_q8_K *) (a + (size_t) c * a_stride))->bsums;

		sumq[c] = PKV(zero) ();
		summ[c] = PKV(zero) ();
		#pragma GCC unroll 4
		for (int p = 0; p < 4; p++)
		{
			/* m_j (bsum 2j + bsum 2j+1), j = 2p and 2p + 1 */
			summ[c] = PKV(madd_add) (summ[c], PKV(dup16) (pv[4 + p], 0), PKV(bcast) (bs + 4 * p));
			summ[c] = PKV(madd_add) (summ[c], PKV(dup16) (pv[4 + p], 1), PKV(bcast) (bs + 4 * p + 2));
		}
	}
	#pragma GCC unroll 4
	for (int p = 0; p < 4; p++)
		#pragma GCC unroll 2
		for (int h = 0; h < 2; h++)
		{
			PKV(vi)		s[PK_TG];

			#pragma GCC unroll 8
			for (int c = 0; c < C; c++)
				s[c] = PKV(zero) ();
			#pragma GCC unroll 8
			for (int e = 0; e < 8; e++)
			{
				PKV(vi)		w = uq ? uq[8 * (2 * p + h) + e] : PKV(k4_w) (q5, b, gap, p, h, e);

				#pragma GCC unroll 8
				for (int c = 0; c < C; c++)
				{
					const int8_t *q = ((const llm_block_q8_K *) (a + (size_t) c * a_stride))->qs;

					s[c] = PKV(dot) (s[c], w, PKV(bcast) (q + 64 * p + 32 * h + 4 * e));
				}
				if (!PK_VNNI && q5 && e == 3)
				{
					#pragma GCC unroll 8
					for (int c = 0; c < C; c++)
					{
						sumq[c] = PKV(scale_add) (sumq[c], s[c], pv[p], h);
						s[c] = PKV(zero) ();
					}
				}
			}
			#pragma GCC unroll 8
			for (int c = 0; c < C; c++)
				sumq[c] = PKV(scale_add) (sumq[c], s[c], pv[p], h);
		}
}

/*
 * One super-block b of a q6_K x8 group (and the next, gap bytes on, with
 * 512 bits) against the C activation blocks a[c], the weight vectors
 * decoded or (uq) from PKV(decode): the exact sumq[c] =
 * sum_j sc_j dot(q_j, a_j) - 32 sum_j sc_j bsum_j of every row, q the
 * unsigned six-bit values. Bound of the AVX2 int16 sums: 2 slices of 2 *
 * 63 * 128 = 32256.
 */
PK_INL void
PKV(q6_block) (const int C, const llm_block_q6_Kx8 *b, size_t gap, const PKV(vi) *uq,
			   const char *a, size_t a_stride, PKV(vi) *sumq)
{
	PKV(vi)		pv[8];
	PKV(vi)		corr[PK_TG];

	PKV(q6_scales) (b->scales, gap, pv);
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
	{
		const int16_t *bs = ((const llm_block_q8_K *) (a + (size_t) c * a_stride))->bsums;

		sumq[c] = PKV(zero) ();
		corr[c] = PKV(zero) ();
		#pragma GCC unroll 8
		for (int p = 0; p < 8; p++)
			corr[c] = PKV(madd_add) (corr[c], pv[p], PKV(bcast) (bs + 2 * p));
	}
	/* half hf, element group k (elements 128 hf + 32 k + 4 t), t quad T */
	#pragma GCC unroll 2
	for (int hf = 0; hf < 2; hf++)
		#pragma GCC unroll 4
		for (int k = 0; k < 4; k++)
			#pragma GCC unroll 2
			for (int T = 0; T < 2; T++)
			{
				PKV(vi)		s[PK_TG];

				#pragma GCC unroll 8
				for (int c = 0; c < C; c++)
					s[c] = PKV(zero) ();
				#pragma GCC unroll 4
				for (int tt = 0; tt < 4; tt++)
				{
					const int	t = 4 * T + tt;
					PKV(vi)		w = uq ? uq[8 * (4 * hf + k) + t] : PKV(q6_w) (b, gap, hf, k, t);

					#pragma GCC unroll 8
					for (int c = 0; c < C; c++)
					{
						const int8_t *q = ((const llm_block_q8_K *) (a + (size_t) c * a_stride))->qs;

						s[c] = PKV(dot) (s[c], w, PKV(bcast) (q + 128 * hf + 32 * k + 4 * t));
					}
					if (!PK_VNNI && tt == 1)
					{
						#pragma GCC unroll 8
						for (int c = 0; c < C; c++)
						{
							sumq[c] = PKV(scale_add) (sumq[c], s[c], pv[4 * hf + k], T);
							s[c] = PKV(zero) ();
						}
					}
				}
				#pragma GCC unroll 8
				for (int c = 0; c < C; c++)
					sumq[c] = PKV(scale_add) (sumq[c], s[c], pv[4 * hf + k], T);
			}
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		sumq[c] = PKV(sub32) (sumq[c], PKV(slli32) (corr[c], 5));
}

/*
 * One group x of 8 rows (with 512 bits also the next, gap bytes on: rows
 * 8 .. 15 of y) of nb super-blocks of type 4 = q4_K, 5 = q5_K, 6 = q6_K
 * against C activation rows: y[c * ldy + r], with the float operations of
 * kernels_pack_k_ref.c. uq: NULL, or the group's vectors from PKV(decode).
 */
PK_INL void
PKV(tile) (const int kind, const int C, int64_t nb, const char *x, size_t gap,
		   const PKV(vi) *uq, const char *a, size_t a_stride, float *y, int64_t ldy)
{
	const size_t bsz = kind == 4 ? sizeof(llm_block_q4_Kx8) : kind == 5 ?
		sizeof(llm_block_q5_Kx8) : sizeof(llm_block_q6_Kx8);
	PKV(vf)		acc[PK_TG],
				macc[PK_TG];

	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		acc[c] = macc[c] = PKV(fzero) ();
	for (int64_t i = 0; i < nb; i++)
	{
		const char *b = x + (size_t) i * bsz;
		const char *ai = a + (size_t) i * sizeof(llm_block_q8_K);
		PKV(vi)		sumq[PK_TG],
					summ[PK_TG];
		PKV(vf)		dw;

		const PKV(vi) *ui = uq ? uq + 64 * i : NULL;

		if (kind == 6)
			PKV(q6_block) (C, (const llm_block_q6_Kx8 *) b, gap, ui, ai, a_stride, sumq);
		else
			PKV(k4_block) (kind == 5, C, b, gap, ui, ai, a_stride, sumq, summ);
		/* d[8] (then dmin[8] for q4_K / q5_K) start every layout */
		dw = PKV(half) (b, gap);
		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
		{
			PKV(vf)		da = PKV(fbcast) (&((const llm_block_q8_K *) (ai + (size_t) c * a_stride))->d);

			acc[c] = PKV(fmadd) (PKV(fmul) (dw, da), PKV(fcvt) (sumq[c]), acc[c]);
			if (kind != 6)
			{
				PKV(vf)		dm = PKV(half) (b + 16, gap);

				macc[c] = PKV(fmadd) (PKV(fmul) (dm, da), PKV(fcvt) (summ[c]), macc[c]);
			}
		}
	}
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		PKV(fstore) (y + c * ldy, kind == 6 ? acc[c] : PKV(fsub) (acc[c], macc[c]));
}

#undef PKV
#undef PK_X3
#undef PK_CAT3
