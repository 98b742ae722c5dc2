/* Sixteen field exponentiations z^(2^252 - 3) at once with AVX-512 IFMA.
 *
 * Used to decode the R points of a batch (each decoding needs one such
 * exponentiation, the dominant cost of batch verification). Lane k of each
 * register holds limb i of element k; limbs are radix 2^51 as in
 * ed25519_fe51.h, so conversion is a transpose and nothing else.
 *
 * vpmadd52luq / vpmadd52huq multiply the low 52 bits of two lanes and add
 * the low / high 52 bits of the 104-bit product to an accumulator. With
 * 51-bit limbs the high half of f_i g_j has weight 2^(51 (i+j+1) + 1): it
 * goes to column i+j+1 with a factor 2. Columns 5..9 wrap to 0..4 times 19
 * since 2^255 = 19 (mod p). Compiled only for x86-64 with a target
 * attribute; the dispatcher (ed25519_dispatch.c) hands it out only on a CPU
 * that has IFMA.
 */
#include "ed25519_simd.h"

#ifdef ES_HAVE_ED25519_IFMA

#include <immintrin.h>

#define IFMA __attribute__((target("avx512f,avx512ifma")))

typedef struct {
    __m512i l[5];
} fe8;

/* h = f * g. Pre: every lane of every limb < 2^52 (IFMA reads 52 bits).
 * Column bound: 5 low halves (< 2^52) + 2 * 5 high halves (< 2^52) < 2^56;
 * folding 19 * column < 2^61. Post: limbs < 2^51 + 1, so < 2^52 again. */
IFMA static inline void fe8_mul(fe8 *h, const fe8 *f, const fe8 *g)
{
    const __m512i zero = _mm512_setzero_si512();
    __m512i lo[10], hi[10];
    for (int k = 0; k < 10; k++)
        lo[k] = hi[k] = zero;
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 5; j++) {
            lo[i + j] = _mm512_madd52lo_epu64(lo[i + j], f->l[i], g->l[j]);
            hi[i + j + 1] = _mm512_madd52hi_epu64(hi[i + j + 1], f->l[i], g->l[j]);
        }
    }
    __m512i c[10];
    for (int k = 0; k < 10; k++)
        c[k] = _mm512_add_epi64(lo[k], _mm512_slli_epi64(hi[k], 1));
    for (int k = 5; k < 10; k++) {
        const __m512i x19 = _mm512_add_epi64(
            _mm512_add_epi64(_mm512_slli_epi64(c[k], 4), _mm512_slli_epi64(c[k], 1)), c[k]);
        c[k - 5] = _mm512_add_epi64(c[k - 5], x19);
    }
    const __m512i mask = _mm512_set1_epi64((long long)ES_FE51_MASK);
    for (int k = 0; k < 4; k++) {
        c[k + 1] = _mm512_add_epi64(c[k + 1], _mm512_srli_epi64(c[k], 51));
        c[k] = _mm512_and_si512(c[k], mask);
    }
    __m512i top = _mm512_srli_epi64(c[4], 51);
    c[4] = _mm512_and_si512(c[4], mask);
    top = _mm512_add_epi64(_mm512_add_epi64(_mm512_slli_epi64(top, 4), _mm512_slli_epi64(top, 1)),
                           top);
    c[0] = _mm512_add_epi64(c[0], top);
    c[1] = _mm512_add_epi64(c[1], _mm512_srli_epi64(c[0], 51));
    c[0] = _mm512_and_si512(c[0], mask);
    for (int k = 0; k < 5; k++)
        h->l[k] = c[k];
}

/* h = f^2: the 10 cross products f_i f_j (i < j) are computed once and
 * doubled by shifting their column sums, 30 multiply-adds instead of 50.
 * Column bound: 1 square low half + 2 * its high half + 2 * (2 cross low
 * halves) + 4 * (2 cross high halves) < 15 * 2^52 < 2^56, as in fe8_mul. */
IFMA static inline void fe8_sq(fe8 *h, const fe8 *f)
{
    const __m512i zero = _mm512_setzero_si512();
    __m512i lo[10], hi[10], xlo[10], xhi[10];
    for (int k = 0; k < 10; k++)
        lo[k] = hi[k] = xlo[k] = xhi[k] = zero;
    for (int i = 0; i < 5; i++) {
        lo[2 * i] = _mm512_madd52lo_epu64(lo[2 * i], f->l[i], f->l[i]);
        hi[2 * i + 1] = _mm512_madd52hi_epu64(hi[2 * i + 1], f->l[i], f->l[i]);
        for (int j = i + 1; j < 5; j++) {
            xlo[i + j] = _mm512_madd52lo_epu64(xlo[i + j], f->l[i], f->l[j]);
            xhi[i + j + 1] = _mm512_madd52hi_epu64(xhi[i + j + 1], f->l[i], f->l[j]);
        }
    }
    __m512i c[10];
    for (int k = 0; k < 10; k++) {
        const __m512i diag = _mm512_add_epi64(lo[k], _mm512_slli_epi64(hi[k], 1));
        const __m512i cross =
            _mm512_add_epi64(_mm512_slli_epi64(xlo[k], 1), _mm512_slli_epi64(xhi[k], 2));
        c[k] = _mm512_add_epi64(diag, cross);
    }
    for (int k = 5; k < 10; k++) {
        const __m512i x19 = _mm512_add_epi64(
            _mm512_add_epi64(_mm512_slli_epi64(c[k], 4), _mm512_slli_epi64(c[k], 1)), c[k]);
        c[k - 5] = _mm512_add_epi64(c[k - 5], x19);
    }
    const __m512i mask = _mm512_set1_epi64((long long)ES_FE51_MASK);
    for (int k = 0; k < 4; k++) {
        c[k + 1] = _mm512_add_epi64(c[k + 1], _mm512_srli_epi64(c[k], 51));
        c[k] = _mm512_and_si512(c[k], mask);
    }
    __m512i top = _mm512_srli_epi64(c[4], 51);
    c[4] = _mm512_and_si512(c[4], mask);
    top = _mm512_add_epi64(_mm512_add_epi64(_mm512_slli_epi64(top, 4), _mm512_slli_epi64(top, 1)),
                           top);
    c[0] = _mm512_add_epi64(c[0], top);
    c[1] = _mm512_add_epi64(c[1], _mm512_srli_epi64(c[0], 51));
    c[0] = _mm512_and_si512(c[0], mask);
    for (int k = 0; k < 5; k++)
        h->l[k] = c[k];
}

/* Same addition chain as es_fe_pow22523 (ed25519_field.c), for G groups of
 * eight side by side: one chain of squarings is latency-bound (each waits
 * for the previous), two independent chains keep the multipliers busy. */
#define G 2
IFMA static inline void sqn_g(fe8 out[G], const fe8 z[G], int n)
{
    for (int g = 0; g < G; g++)
        fe8_sq(&out[g], &z[g]);
    while (--n > 0)
        for (int g = 0; g < G; g++)
            fe8_sq(&out[g], &out[g]);
}

IFMA static inline void mul_g(fe8 out[G], const fe8 a[G], const fe8 b[G])
{
    for (int g = 0; g < G; g++)
        fe8_mul(&out[g], &a[g], &b[g]);
}

IFMA static void pow22523_g(fe8 out[G], const fe8 z[G])
{
    fe8 t0[G], t1[G], z9[G], z11[G], z2_5[G], z2_10[G], z2_20[G], z2_50[G], z2_100[G];
    sqn_g(t0, z, 1);     /* 2 */
    sqn_g(t1, t0, 2);    /* 8 */
    mul_g(z9, z, t1);    /* 9 */
    mul_g(z11, t0, z9);  /* 11 */
    sqn_g(t0, z11, 1);   /* 22 */
    mul_g(z2_5, t0, z9); /* 2^5 - 1 */
    sqn_g(t0, z2_5, 5);
    mul_g(z2_10, t0, z2_5); /* 2^10 - 1 */
    sqn_g(t0, z2_10, 10);
    mul_g(z2_20, t0, z2_10); /* 2^20 - 1 */
    sqn_g(t0, z2_20, 20);
    mul_g(t1, t0, z2_20); /* 2^40 - 1 */
    sqn_g(t0, t1, 10);
    mul_g(z2_50, t0, z2_10); /* 2^50 - 1 */
    sqn_g(t0, z2_50, 50);
    mul_g(z2_100, t0, z2_50); /* 2^100 - 1 */
    sqn_g(t0, z2_100, 100);
    mul_g(t1, t0, z2_100); /* 2^200 - 1 */
    sqn_g(t0, t1, 50);
    mul_g(t1, t0, z2_50); /* 2^250 - 1 */
    sqn_g(t0, t1, 2);     /* 2^252 - 4 */
    mul_g(out, t0, z);    /* 2^252 - 3 */
}

/* out[i] = in[i]^(2^252 - 3) for 8 * G elements. */
IFMA void es_fe51_pow22523_x16_ifma(es_fe out[8 * G], const es_fe in[8 * G])
{
    fe8 z[G], r[G];
    for (int g = 0; g < G; g++)
        for (int i = 0; i < 5; i++) {
            uint64_t lane[8];
            for (int k = 0; k < 8; k++) {
                es_fe t = in[8 * g + k];
                es_fe_carry(&t); /* limbs < 2^52 as IFMA requires */
                lane[k] = t.v[i];
            }
            z[g].l[i] = _mm512_loadu_si512((const void *)lane);
        }
    pow22523_g(r, z);
    for (int g = 0; g < G; g++)
        for (int i = 0; i < 5; i++) {
            uint64_t lane[8];
            _mm512_storeu_si512((void *)lane, r[g].l[i]);
            for (int k = 0; k < 8; k++)
                out[8 * g + k].v[i] = lane[k];
        }
}

#endif
