/* Field operations built on the representation-specific primitives:
 * exponentiation chains, comparisons and the canonical-encoding test. */
#include "ed25519_fe.h"

static void sq_times(es_fe *out, const es_fe *z, int n)
{
    es_fe_sq(out, z);
    while (--n > 0)
        es_fe_sq(out, out);
}

/* Shared prefix of both chains: returns z^(2^250 - 1) in t250 and z^11 in z11.
 * Exponents are noted after each step (standard chain for 2^255 - 21 and
 * 2^252 - 3: 254 squarings, 11 multiplications). */
static void chain_2_250_1(es_fe *t250, es_fe *z11, const es_fe *z)
{
    es_fe t0, t1, t2, z9, z2_5, z2_10, z2_20, z2_50, z2_100;
    es_fe_sq(&t0, z);                /* 2 */
    sq_times(&t1, &t0, 2);           /* 8 */
    es_fe_mul(&z9, z, &t1);          /* 9 */
    es_fe_mul(z11, &t0, &z9);        /* 11 */
    es_fe_sq(&t0, z11);              /* 22 */
    es_fe_mul(&z2_5, &t0, &z9);      /* 31 = 2^5 - 1 */
    sq_times(&t0, &z2_5, 5);         /* 2^10 - 2^5 */
    es_fe_mul(&z2_10, &t0, &z2_5);   /* 2^10 - 1 */
    sq_times(&t0, &z2_10, 10);       /* 2^20 - 2^10 */
    es_fe_mul(&z2_20, &t0, &z2_10);  /* 2^20 - 1 */
    sq_times(&t0, &z2_20, 20);       /* 2^40 - 2^20 */
    es_fe_mul(&t1, &t0, &z2_20);     /* 2^40 - 1 */
    sq_times(&t0, &t1, 10);          /* 2^50 - 2^10 */
    es_fe_mul(&z2_50, &t0, &z2_10);  /* 2^50 - 1 */
    sq_times(&t0, &z2_50, 50);       /* 2^100 - 2^50 */
    es_fe_mul(&z2_100, &t0, &z2_50); /* 2^100 - 1 */
    sq_times(&t0, &z2_100, 100);     /* 2^200 - 2^100 */
    es_fe_mul(&t2, &t0, &z2_100);    /* 2^200 - 1 */
    sq_times(&t0, &t2, 50);          /* 2^250 - 2^50 */
    es_fe_mul(t250, &t0, &z2_50);    /* 2^250 - 1 */
}

void es_fe_pow22523(es_fe *out, const es_fe *z)
{
    es_fe t250, z11, t;
    chain_2_250_1(&t250, &z11, z);
    sq_times(&t, &t250, 2); /* 2^252 - 4 */
    es_fe_mul(out, &t, z);  /* 2^252 - 3 */
}

/* Four independent exponentiations in lockstep: the same chain as
 * es_fe_pow22523, but each step is done for all four before the next, so an
 * out-of-order core overlaps their multiplications (about 15% faster per
 * element than one at a time on x86-64). */
#define LANES 4
static void sq_times_x4(es_fe out[LANES], const es_fe z[LANES], int n)
{
    for (int l = 0; l < LANES; l++)
        es_fe_sq(&out[l], &z[l]);
    while (--n > 0)
        for (int l = 0; l < LANES; l++)
            es_fe_sq(&out[l], &out[l]);
}

static void mul_x4(es_fe out[LANES], const es_fe a[LANES], const es_fe b[LANES])
{
    for (int l = 0; l < LANES; l++)
        es_fe_mul(&out[l], &a[l], &b[l]);
}

static void pow22523_x4(es_fe out[LANES], const es_fe z[LANES])
{
    es_fe t0[LANES], t1[LANES], z9[LANES], z11[LANES], z2_5[LANES], z2_10[LANES], z2_20[LANES],
        z2_50[LANES], z2_100[LANES];
    sq_times_x4(t0, z, 1);   /* 2 */
    sq_times_x4(t1, t0, 2);  /* 8 */
    mul_x4(z9, z, t1);       /* 9 */
    mul_x4(z11, t0, z9);     /* 11 */
    sq_times_x4(t0, z11, 1); /* 22 */
    mul_x4(z2_5, t0, z9);    /* 2^5 - 1 */
    sq_times_x4(t0, z2_5, 5);
    mul_x4(z2_10, t0, z2_5); /* 2^10 - 1 */
    sq_times_x4(t0, z2_10, 10);
    mul_x4(z2_20, t0, z2_10); /* 2^20 - 1 */
    sq_times_x4(t0, z2_20, 20);
    mul_x4(t1, t0, z2_20); /* 2^40 - 1 */
    sq_times_x4(t0, t1, 10);
    mul_x4(z2_50, t0, z2_10); /* 2^50 - 1 */
    sq_times_x4(t0, z2_50, 50);
    mul_x4(z2_100, t0, z2_50); /* 2^100 - 1 */
    sq_times_x4(t0, z2_100, 100);
    mul_x4(t1, t0, z2_100); /* 2^200 - 1 */
    sq_times_x4(t0, t1, 50);
    mul_x4(t1, t0, z2_50);  /* 2^250 - 1 */
    sq_times_x4(t0, t1, 2); /* 2^252 - 4 */
    mul_x4(out, t0, z);     /* 2^252 - 3 */
}

void es_fe_pow22523_many(es_fe *out, const es_fe *in, size_t n, es_fe_pow22523_x16_fn x16)
{
    size_t i = 0;
    if (x16)
        for (; i + 16 <= n; i += 16)
            x16(out + i, in + i);
    for (; i + LANES <= n; i += LANES)
        pow22523_x4(out + i, in + i);
    for (; i < n; i++)
        es_fe_pow22523(&out[i], &in[i]);
}

void es_fe_invert(es_fe *out, const es_fe *z)
{
    es_fe t250, z11, t;
    chain_2_250_1(&t250, &z11, z);
    sq_times(&t, &t250, 5);   /* 2^255 - 32 */
    es_fe_mul(out, &t, &z11); /* 2^255 - 21 = p - 2 */
}

int es_fe_is_zero_vartime(const es_fe *f)
{
    uint8_t s[32];
    es_fe_tobytes(s, f);
    uint8_t acc = 0;
    for (int i = 0; i < 32; i++)
        acc |= s[i];
    return acc == 0;
}

int es_fe_equal_vartime(const es_fe *f, const es_fe *g)
{
    es_fe d;
    es_fe_sub(&d, f, g);
    return es_fe_is_zero_vartime(&d);
}

int es_fe_is_negative(const es_fe *f)
{
    uint8_t s[32];
    es_fe_tobytes(s, f);
    return s[0] & 1;
}

/* p = 2^255 - 19 is 0xed, 0xff x 30, 0x7f (little-endian). The low 255 bits
 * of s are >= p exactly when bytes 1..30 are 0xff, byte 31 (without its top
 * bit) is 0x7f and byte 0 is >= 0xed. */
int es_fe_bytes_canonical(const uint8_t s[32])
{
    if ((s[31] & 0x7f) != 0x7f)
        return 1;
    for (int i = 30; i >= 1; i--)
        if (s[i] != 0xff)
            return 1;
    return s[0] < 0xed;
}
