/* Arithmetic modulo the group order L = 2^252 + 27742317777372353535851937790883648493.
 *
 * Numbers are held as little-endian arrays of 32-bit limbs with 64-bit
 * intermediate products, which is portable to every target (this layer is
 * not hot: two reductions and one product per signature). Reduction is
 * Barrett's (Handbook of Applied Cryptography, algorithm 14.42) with base
 * b = 2^32, k = 8 limbs and mu = floor(b^16 / L).
 */
#include <string.h>

#include "ed25519_internal.h"

static const uint32_t L32[8] = {0x5cf5d3ed, 0x5812631a, 0xa2f79cd6, 0x14def9de,
                                0x00000000, 0x00000000, 0x00000000, 0x10000000};
/* mu = floor(2^512 / L), 260 bits. */
static const uint32_t MU32[9] = {0x0a2c131b, 0xed9ce5a3, 0x086329a7, 0x2106215d, 0xffffffeb,
                                 0xffffffff, 0xffffffff, 0xffffffff, 0x0000000f};

static void load32(uint32_t *out, const uint8_t *in, size_t nlimbs)
{
    for (size_t i = 0; i < nlimbs; i++)
        out[i] = (uint32_t)in[4 * i] | ((uint32_t)in[4 * i + 1] << 8) |
                 ((uint32_t)in[4 * i + 2] << 16) | ((uint32_t)in[4 * i + 3] << 24);
}

static void store32(uint8_t *out, const uint32_t *in, size_t nlimbs)
{
    for (size_t i = 0; i < nlimbs; i++) {
        out[4 * i] = (uint8_t)in[i];
        out[4 * i + 1] = (uint8_t)(in[i] >> 8);
        out[4 * i + 2] = (uint8_t)(in[i] >> 16);
        out[4 * i + 3] = (uint8_t)(in[i] >> 24);
    }
}

/* r (na + nb limbs) = a * b, schoolbook. */
static void mul_limbs(uint32_t *r, const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    memset(r, 0, (na + nb) * sizeof *r);
    for (size_t i = 0; i < na; i++) {
        uint64_t carry = 0;
        for (size_t j = 0; j < nb; j++) {
            uint64_t t = (uint64_t)a[i] * b[j] + r[i + j] + carry;
            r[i + j] = (uint32_t)t;
            carry = t >> 32;
        }
        r[i + nb] = (uint32_t)carry;
    }
}

/* Returns 1 if a (n limbs) >= b (n limbs). */
static int geq_limbs(const uint32_t *a, const uint32_t *b, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (a[i] != b[i])
            return a[i] > b[i];
    }
    return 1;
}

/* a -= b over n limbs, modulo b^n. */
static void sub_limbs(uint32_t *a, const uint32_t *b, size_t n)
{
    uint64_t borrow = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = (uint64_t)a[i] - b[i] - borrow;
        a[i] = (uint32_t)t;
        borrow = (t >> 63) & 1;
    }
}

/* out (8 limbs, < L) = x mod L for x < 2^512 given as 16 limbs (HAC 14.42). */
static void barrett_reduce(uint32_t out[8], const uint32_t x[16])
{
    uint32_t q2[18], q3L[17], r[9], L9[9];
    /* q1 = floor(x / b^7) is x[7..15]; q2 = q1 * mu; q3 = floor(q2 / b^9). */
    mul_limbs(q2, x + 7, 9, MU32, 9);
    const uint32_t *q3 = q2 + 9; /* 9 limbs */
    /* r = (x mod b^9) - (q3 * L mod b^9), modulo b^9. */
    mul_limbs(q3L, q3, 9, L32, 8);
    memcpy(r, x, sizeof r);
    sub_limbs(r, q3L, 9);
    /* HAC 14.44: 0 <= r < 3L, so at most two subtractions. */
    memcpy(L9, L32, sizeof L32);
    L9[8] = 0;
    while (geq_limbs(r, L9, 9))
        sub_limbs(r, L9, 9);
    memcpy(out, r, 8 * sizeof *out);
}

int es_sc_is_canonical(const uint8_t s[32])
{
    uint32_t a[8];
    load32(a, s, 8);
    return !geq_limbs(a, L32, 8);
}

void es_sc_reduce64(uint8_t out[32], const uint8_t in[64])
{
    uint32_t x[16], r[8];
    load32(x, in, 16);
    barrett_reduce(r, x);
    store32(out, r, 8);
}

void es_sc_mul(uint8_t out[32], const uint8_t a[32], const uint8_t b[32])
{
    uint32_t A[8], B[8], x[16], r[8];
    load32(A, a, 8);
    load32(B, b, 8);
    mul_limbs(x, A, 8, B, 8);
    barrett_reduce(r, x);
    store32(out, r, 8);
}

void es_sc_add(uint8_t out[32], const uint8_t a[32], const uint8_t b[32])
{
    uint32_t A[9], B[8], L9[9];
    load32(A, a, 8);
    load32(B, b, 8);
    uint64_t carry = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t t = (uint64_t)A[i] + B[i] + carry;
        A[i] = (uint32_t)t;
        carry = t >> 32;
    }
    A[8] = (uint32_t)carry;
    memcpy(L9, L32, sizeof L32);
    L9[8] = 0;
    if (geq_limbs(A, L9, 9))
        sub_limbs(A, L9, 9);
    store32(out, A, 8);
}

void es_sc_neg(uint8_t out[32], const uint8_t a[32])
{
    uint32_t A[8], r[8];
    load32(A, a, 8);
    memcpy(r, L32, sizeof r);
    sub_limbs(r, A, 8);
    if (!geq_limbs(r, L32, 8)) { /* r = L - a < L unless a == 0 */
        store32(out, r, 8);
        return;
    }
    memset(out, 0, 32);
}

/* Wide accumulation for batch equations: products z * a with a 128-bit z are
 * kept unreduced (381 bits) and summed in 512 bits, so a batch reduces each
 * sum once instead of every product and partial sum. n < 2^130 products fit. */
void es_sc_mul128_wide(uint32_t out[12], const uint8_t z[16], const uint8_t a[32])
{
    uint32_t Z[4], A[8];
    load32(Z, z, 4);
    load32(A, a, 8);
    mul_limbs(out, Z, 4, A, 8);
}

void es_sc_wide_zero(es_sc_wide *acc)
{
    memset(acc->v, 0, sizeof acc->v);
}

void es_sc_wide_add(es_sc_wide *acc, const uint32_t x[12])
{
    uint64_t carry = 0;
    for (int i = 0; i < 16; i++) {
        const uint64_t t = (uint64_t)acc->v[i] + (i < 12 ? x[i] : 0) + carry;
        acc->v[i] = (uint32_t)t;
        carry = t >> 32;
    }
}

void es_sc_wide_reduce(uint8_t out[32], const es_sc_wide *acc)
{
    uint32_t r[8];
    barrett_reduce(r, acc->v);
    store32(out, r, 8);
}
