/* GF(2^255 - 19) with five 51-bit limbs: f = f0 + f1 2^51 + ... + f4 2^204.
 *
 * Limb bounds used in the pre/post-conditions below:
 *   "tight"  every limb < 2^51 + 2^18 (output of mul, sq, sub, neg, carry)
 *   "loose"  every limb < 2^54 (what mul and sq accept)
 * add of two tight values is < 2^52.1, so mul(add(a, b), add(c, d)) is fine;
 * sub accepts subtrahend limbs < 2^54 (it adds 16p first, whose limbs are
 * > 2^54.9).
 * The reduction uses 2^255 = 19 (mod p): a product limb that lands at
 * position 5+i is folded back to position i times 19.
 */
#ifndef ES_ED25519_FE51_H
#define ES_ED25519_FE51_H

#include <stdint.h>

typedef struct {
    uint64_t v[5];
} es_fe;

/* __extension__: a GCC/Clang type, not ISO C (quiet under -Wpedantic). */
__extension__ typedef unsigned __int128 es_u128;

#define ES_FE51_MASK ((UINT64_C(1) << 51) - 1)

static inline void es_fe_0(es_fe *h)
{
    h->v[0] = h->v[1] = h->v[2] = h->v[3] = h->v[4] = 0;
}

static inline void es_fe_1(es_fe *h)
{
    h->v[0] = 1;
    h->v[1] = h->v[2] = h->v[3] = h->v[4] = 0;
}

/* Pre: f, g tight (or f + g limbwise < 2^54 if the result feeds mul). */
static inline void es_fe_add(es_fe *h, const es_fe *f, const es_fe *g)
{
    for (int i = 0; i < 5; i++)
        h->v[i] = f->v[i] + g->v[i];
}

/* One carry pass: limbs < 2^64 in, tight out (limb 0 < 2^51 + 19 * 2^13). */
static inline void es_fe_carry(es_fe *h)
{
    uint64_t c;
    /* clang-format off: one carry step per limb and line */
    c = h->v[0] >> 51;
    h->v[0] &= ES_FE51_MASK;
    h->v[1] += c;
    c = h->v[1] >> 51;
    h->v[1] &= ES_FE51_MASK;
    h->v[2] += c;
    c = h->v[2] >> 51;
    h->v[2] &= ES_FE51_MASK;
    h->v[3] += c;
    c = h->v[3] >> 51;
    h->v[3] &= ES_FE51_MASK;
    h->v[4] += c;
    c = h->v[4] >> 51;
    h->v[4] &= ES_FE51_MASK;
    h->v[0] += c * 19;
    /* clang-format on */
}

/* h = f - g computed as (f + 16p) - g so no limb goes negative.
 * Pre: f limbs < 2^63, g limbs < 2^54.  Post: tight. */
static inline void es_fe_sub(es_fe *h, const es_fe *f, const es_fe *g)
{
    h->v[0] = (f->v[0] + UINT64_C(0x7ffffffffffed0)) - g->v[0]; /* 16 (2^51 - 19) */
    h->v[1] = (f->v[1] + UINT64_C(0x7ffffffffffff0)) - g->v[1]; /* 16 (2^51 - 1)  */
    h->v[2] = (f->v[2] + UINT64_C(0x7ffffffffffff0)) - g->v[2];
    h->v[3] = (f->v[3] + UINT64_C(0x7ffffffffffff0)) - g->v[3];
    h->v[4] = (f->v[4] + UINT64_C(0x7ffffffffffff0)) - g->v[4];
    es_fe_carry(h);
}

static inline void es_fe_neg(es_fe *h, const es_fe *f)
{
    es_fe zero;
    es_fe_0(&zero);
    es_fe_sub(h, &zero, f);
}

/* Carry five 128-bit column sums into a tight result.
 * Pre: every column < 2^115 (see mul), so the carry out of column 4 is
 * < 2^64 and times 19 still fits the 128-bit add below. */
static inline void es_fe51_reduce_cols(es_fe *h, es_u128 r0, es_u128 r1, es_u128 r2, es_u128 r3,
                                       es_u128 r4)
{
    r1 += (uint64_t)(r0 >> 51);
    r2 += (uint64_t)(r1 >> 51);
    r3 += (uint64_t)(r2 >> 51);
    r4 += (uint64_t)(r3 >> 51);
    uint64_t h0 = (uint64_t)r0 & ES_FE51_MASK;
    uint64_t h1 = (uint64_t)r1 & ES_FE51_MASK;
    uint64_t h2 = (uint64_t)r2 & ES_FE51_MASK;
    uint64_t h3 = (uint64_t)r3 & ES_FE51_MASK;
    uint64_t h4 = (uint64_t)r4 & ES_FE51_MASK;
    es_u128 t = (es_u128)h0 + (es_u128)(uint64_t)(r4 >> 51) * 19;
    h->v[0] = (uint64_t)t & ES_FE51_MASK;
    h->v[1] = h1 + (uint64_t)(t >> 51);
    h->v[2] = h2;
    h->v[3] = h3;
    h->v[4] = h4;
}

/* h = f * g. Pre: f, g loose (< 2^54).  Post: tight.
 * Column bound: 5 products of < 2^54 * (19 * 2^54) < 5 * 2^112.3 < 2^115. */
static inline void es_fe_mul(es_fe *h, const es_fe *f, const es_fe *g)
{
    const uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    const uint64_t g0 = g->v[0], g1 = g->v[1], g2 = g->v[2], g3 = g->v[3], g4 = g->v[4];
    const uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
    es_u128 r0 = (es_u128)f0 * g0 + (es_u128)f1 * g4_19 + (es_u128)f2 * g3_19 +
                 (es_u128)f3 * g2_19 + (es_u128)f4 * g1_19;
    es_u128 r1 = (es_u128)f0 * g1 + (es_u128)f1 * g0 + (es_u128)f2 * g4_19 + (es_u128)f3 * g3_19 +
                 (es_u128)f4 * g2_19;
    es_u128 r2 = (es_u128)f0 * g2 + (es_u128)f1 * g1 + (es_u128)f2 * g0 + (es_u128)f3 * g4_19 +
                 (es_u128)f4 * g3_19;
    es_u128 r3 = (es_u128)f0 * g3 + (es_u128)f1 * g2 + (es_u128)f2 * g1 + (es_u128)f3 * g0 +
                 (es_u128)f4 * g4_19;
    es_u128 r4 = (es_u128)f0 * g4 + (es_u128)f1 * g3 + (es_u128)f2 * g2 + (es_u128)f3 * g1 +
                 (es_u128)f4 * g0;
    es_fe51_reduce_cols(h, r0, r1, r2, r3, r4);
}

/* h = f^2 with the symmetric products merged (15 multiplies instead of 25).
 * Pre: f loose.  Post: tight. */
static inline void es_fe_sq(es_fe *h, const es_fe *f)
{
    const uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    const uint64_t f0_2 = 2 * f0, f1_2 = 2 * f1;
    const uint64_t f3_19 = 19 * f3, f4_19 = 19 * f4;
    es_u128 r0 = (es_u128)f0 * f0 + (es_u128)f1_2 * f4_19 + (es_u128)(2 * f2) * f3_19;
    es_u128 r1 = (es_u128)f0_2 * f1 + (es_u128)f3 * f3_19 + (es_u128)(2 * f2) * f4_19;
    es_u128 r2 = (es_u128)f0_2 * f2 + (es_u128)f1 * f1 + (es_u128)(2 * f3) * f4_19;
    es_u128 r3 = (es_u128)f0_2 * f3 + (es_u128)f1_2 * f2 + (es_u128)f4 * f4_19;
    es_u128 r4 = (es_u128)f0_2 * f4 + (es_u128)f1_2 * f3 + (es_u128)f2 * f2;
    es_fe51_reduce_cols(h, r0, r1, r2, r3, r4);
}

#endif
