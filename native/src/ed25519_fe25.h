/* GF(2^255 - 19) with ten limbs of alternately 26 and 25 bits ("radix 2^25.5"):
 * f = sum f_i 2^ceil(25.5 i), limb i at bit 0, 26, 51, 77, 102, 128, 153, 179,
 * 204, 230. Only 32x32->64-bit products are needed, so this field serves
 * targets without unsigned __int128 (32-bit ARM, x86, MIPS gateways).
 *
 * Limb bounds in the pre/post-conditions below:
 *   "tight"  even limbs < 2^26 + 2^14, odd limbs < 2^25 + 2^14
 *   "loose"  every limb < 2^27.5 (what mul and sq accept; add of two tight
 *            values is < 2^27.01)
 * Product of limbs i and j lands at bit pos(i) + pos(j), which is pos(i+j)
 * plus one when i and j are both odd (hence a factor 2 there), and a column
 * i + j >= 10 wraps to i + j - 10 times 19 because 2^255 = 19 (mod p).
 */
#ifndef ES_ED25519_FE25_H
#define ES_ED25519_FE25_H

#include <stdint.h>

typedef struct {
    uint32_t v[10];
} es_fe;

#define ES_FE25_MASK26 ((UINT32_C(1) << 26) - 1)
#define ES_FE25_MASK25 ((UINT32_C(1) << 25) - 1)

static inline void es_fe_0(es_fe *h)
{
    for (int i = 0; i < 10; i++)
        h->v[i] = 0;
}

static inline void es_fe_1(es_fe *h)
{
    es_fe_0(h);
    h->v[0] = 1;
}

/* Pre: f, g tight.  Post: every limb < 2^27.01 (loose). */
static inline void es_fe_add(es_fe *h, const es_fe *f, const es_fe *g)
{
    for (int i = 0; i < 10; i++)
        h->v[i] = f->v[i] + g->v[i];
}

/* Carries 64-bit column sums (each < 2^63) into a tight element. */
static inline void es_fe25_carry64(es_fe *h, uint64_t c[10])
{
    for (int i = 0; i < 9; i++) {
        const int bits = (i & 1) ? 25 : 26;
        c[i + 1] += c[i] >> bits;
        c[i] &= (UINT64_C(1) << bits) - 1;
    }
    /* The carry out of limb 9 (< 2^38) wraps to limb 0 times 19. */
    c[0] += 19 * (c[9] >> 25);
    c[9] &= ES_FE25_MASK25;
    c[1] += c[0] >> 26;
    c[0] &= ES_FE25_MASK26;
    for (int i = 0; i < 10; i++)
        h->v[i] = (uint32_t)c[i];
}

/* One carry pass over 32-bit limbs (each < 2^31).  Post: tight. */
static inline void es_fe_carry(es_fe *h)
{
    uint64_t c[10];
    for (int i = 0; i < 10; i++)
        c[i] = h->v[i];
    es_fe25_carry64(h, c);
}

/* h = f - g computed as (f + 8p) - g, never negative.
 * Pre: f limbs < 2^30, g even limbs < 2^29 - 152, odd limbs < 2^28 - 8.
 * Post: tight. */
static inline void es_fe_sub(es_fe *h, const es_fe *f, const es_fe *g)
{
    h->v[0] = f->v[0] + UINT32_C(0x1fffff68) - g->v[0]; /* 8 (2^26 - 19) */
    for (int i = 1; i < 10; i++)
        h->v[i] = f->v[i] + ((i & 1) ? UINT32_C(0xffffff8) : UINT32_C(0x1ffffff8)) - g->v[i];
    es_fe_carry(h);
}

static inline void es_fe_neg(es_fe *h, const es_fe *f)
{
    es_fe zero;
    es_fe_0(&zero);
    es_fe_sub(h, &zero, f);
}

/* h = f * g. Pre: f, g loose (< 2^27.5).  Post: tight.
 * Column bound: 10 terms of at most 2f_i * 19g_j < 2^28.5 * 2^31.75 = 2^60.25,
 * so every column stays below 2^63.6. */
static inline void es_fe_mul(es_fe *h, const es_fe *f, const es_fe *g)
{
    uint32_t g19[10], f2[10];
    uint64_t c[10] = {0};
    for (int i = 0; i < 10; i++) {
        g19[i] = 19 * g->v[i];
        f2[i] = (i & 1) ? 2 * f->v[i] : f->v[i];
    }
    for (int i = 0; i < 10; i++) {
        for (int j = 0; j < 10; j++) {
            const uint64_t a = (j & 1) ? f2[i] : f->v[i];
            const uint64_t b = (i + j < 10) ? g->v[j] : g19[j];
            c[(i + j) % 10] += a * b;
        }
    }
    es_fe25_carry64(h, c);
}

static inline void es_fe_sq(es_fe *h, const es_fe *f)
{
    es_fe_mul(h, f, f);
}

#endif
