/* Points of edwards25519 in extended coordinates.
 *
 * Formulas: Hisil, Wong, Carter, Dawson, "Twisted Edwards Curves Revisited"
 * (ASIACRYPT 2008), for a = -1: addition "add-2008-hwcd-3" (8M, 9M with the
 * 2d*T product), mixed addition "madd-2008-hwcd-3" (7M) and doubling
 * "dbl-2008-hwcd" (4M + 4S). Each writes a completed point (E, F, G, H) and
 * the caller chooses how many of the final products X=EF, Y=GH, Z=FG, T=EH
 * it needs. These formulas are complete on edwards25519 (d is not a square),
 * so no input needs special casing.
 * Decoding follows RFC 8032 section 5.1.3.
 */
#include "ed25519_internal.h"

#ifdef ES_FE25
const es_ge_p3 es_ge_base = {
    {{0x325d51a, 0x18b5823, 0xf6592a, 0x104a92d, 0x1a4b31d, 0x1d6dc5c, 0x27118fe, 0x7fd814,
      0x13cd6e5, 0x85a4db}},
    {{0x2666658, 0x1999999, 0xcccccc, 0x1333333, 0x1999999, 0x666666, 0x3333333, 0xcccccc,
      0x2666666, 0x1999999}},
    {{1, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {{0x1b7dda3, 0x1a2ace9, 0x25eadbb, 0x3ba8a, 0x83c27e, 0xabe37d, 0x1274732, 0xccacdd, 0xfd78b7,
      0x19e1d7c}},
};
#else
const es_ge_p3 es_ge_base = {
    {{0x62d608f25d51aULL, 0x412a4b4f6592aULL, 0x75b7171a4b31dULL, 0x1ff60527118feULL,
      0x216936d3cd6e5ULL}},
    {{0x6666666666658ULL, 0x4ccccccccccccULL, 0x1999999999999ULL, 0x3333333333333ULL,
      0x6666666666666ULL}},
    {{1, 0, 0, 0, 0}},
    {{0x68ab3a5b7dda3ULL, 0xeea2a5eadbbULL, 0x2af8df483c27eULL, 0x332b375274732ULL,
      0x67875f0fd78b7ULL}},
};
#endif

void es_ge_identity(es_ge_p3 *h)
{
    es_fe_0(&h->X);
    es_fe_1(&h->Y);
    es_fe_1(&h->Z);
    es_fe_0(&h->T);
}

/* Decoding is split around its one expensive step, the exponentiation
 * (u v^7)^((p-5)/8), so that batches can run many of those side by side
 * (es_fe_pow22523_many). */
int es_ge_decompress_begin_vartime(es_ge_decompress_state *st, const uint8_t s[32])
{
    es_fe one;
    if (!es_fe_bytes_canonical(s))
        return -1; /* y >= p: non-canonical encoding */
    st->sign = s[31] >> 7;
    es_fe_frombytes(&st->y, s);
    es_fe_1(&one);

    /* x^2 = u / v with u = y^2 - 1, v = d y^2 + 1. */
    es_fe_sq(&st->u, &st->y);
    es_fe_mul(&st->v, &st->u, &es_fe_d);
    es_fe_sub(&st->u, &st->u, &one);
    es_fe_add(&st->v, &st->v, &one);
    es_fe_carry(&st->v);

    /* Candidate root x = u v^3 (u v^7)^((p-5)/8) (RFC 8032 5.1.3 step 2);
     * w = u v^7 is what gets exponentiated. */
    es_fe_sq(&st->v3, &st->v);
    es_fe_mul(&st->v3, &st->v3, &st->v); /* v^3 */
    es_fe_sq(&st->w, &st->v3);
    es_fe_mul(&st->w, &st->w, &st->v);
    es_fe_mul(&st->w, &st->w, &st->u); /* u v^7 */
    return 0;
}

int es_ge_decompress_end_vartime(es_ge_p3 *h, const es_ge_decompress_state *st, const es_fe *w_pow)
{
    es_fe x, vxx, check;
    es_fe_mul(&x, w_pow, &st->v3);
    es_fe_mul(&x, &x, &st->u);

    /* Step 3: v x^2 = u -> x; v x^2 = -u -> x sqrt(-1); otherwise no root. */
    es_fe_sq(&vxx, &x);
    es_fe_mul(&vxx, &vxx, &st->v);
    es_fe_sub(&check, &vxx, &st->u);
    if (!es_fe_is_zero_vartime(&check)) {
        es_fe_add(&check, &vxx, &st->u);
        if (!es_fe_is_zero_vartime(&check))
            return -1;
        es_fe_mul(&x, &x, &es_fe_sqrtm1);
    }

    /* Step 4: x = 0 with sign bit 1 is a second (non-canonical) encoding. */
    const int neg = es_fe_is_negative(&x);
    if (neg == 0 && st->sign == 1 && es_fe_is_zero_vartime(&x))
        return -1;
    if (neg != st->sign)
        es_fe_neg(&x, &x);

    h->X = x;
    h->Y = st->y;
    es_fe_1(&h->Z);
    es_fe_mul(&h->T, &h->X, &h->Y);
    return 0;
}

int es_ge_frombytes_vartime(es_ge_p3 *h, const uint8_t s[32])
{
    es_ge_decompress_state st;
    es_fe w_pow;
    if (es_ge_decompress_begin_vartime(&st, s) != 0)
        return -1;
    es_fe_pow22523(&w_pow, &st.w);
    return es_ge_decompress_end_vartime(h, &st, &w_pow);
}

void es_ge_tobytes(uint8_t s[32], const es_ge_p3 *h)
{
    es_fe zi, x, y;
    es_fe_invert(&zi, &h->Z);
    es_fe_mul(&x, &h->X, &zi);
    es_fe_mul(&y, &h->Y, &zi);
    es_fe_tobytes(s, &y);
    s[31] ^= (uint8_t)(es_fe_is_negative(&x) << 7);
}

void es_ge_to_cached(es_ge_cached *c, const es_ge_p3 *p)
{
    es_fe_add(&c->YplusX, &p->Y, &p->X);
    es_fe_sub(&c->YminusX, &p->Y, &p->X);
    es_fe_add(&c->Z2, &p->Z, &p->Z);
    es_fe_mul(&c->T2d, &p->T, &es_fe_d2);
}

void es_ge_affine_to_niels(es_ge_niels *n, const es_ge_p3 *p)
{
    es_fe_add(&n->YplusX, &p->Y, &p->X);
    es_fe_sub(&n->YminusX, &p->Y, &p->X);
    es_fe_mul(&n->T2d, &p->T, &es_fe_d2);
}

/* add-2008-hwcd-3: A = (Y1-X1)(Y2-X2), B = (Y1+X1)(Y2+X2), C = T1 2d T2,
 * D = 2 Z1 Z2; E = B - A, F = D - C, G = D + C, H = B + A. */
void es_ge_add(es_ge_p1p1 *r, const es_ge_p3 *p, const es_ge_cached *q)
{
    es_fe a, b, c, d, t;
    es_fe_sub(&t, &p->Y, &p->X);
    es_fe_mul(&a, &t, &q->YminusX);
    es_fe_add(&t, &p->Y, &p->X);
    es_fe_mul(&b, &t, &q->YplusX);
    es_fe_mul(&c, &p->T, &q->T2d);
    es_fe_mul(&d, &p->Z, &q->Z2);
    es_fe_sub(&r->E, &b, &a);
    es_fe_sub(&r->F, &d, &c);
    es_fe_add(&r->G, &d, &c);
    es_fe_add(&r->H, &b, &a);
}

/* p - q: the negation of q = (X, Y, Z, T) is (-X, Y, Z, -T), which swaps
 * Y+X with Y-X and negates 2dT, i.e. swaps the roles of F and G. */
void es_ge_sub(es_ge_p1p1 *r, const es_ge_p3 *p, const es_ge_cached *q)
{
    es_fe a, b, c, d, t;
    es_fe_sub(&t, &p->Y, &p->X);
    es_fe_mul(&a, &t, &q->YplusX);
    es_fe_add(&t, &p->Y, &p->X);
    es_fe_mul(&b, &t, &q->YminusX);
    es_fe_mul(&c, &p->T, &q->T2d);
    es_fe_mul(&d, &p->Z, &q->Z2);
    es_fe_sub(&r->E, &b, &a);
    es_fe_add(&r->F, &d, &c);
    es_fe_sub(&r->G, &d, &c);
    es_fe_add(&r->H, &b, &a);
}

/* madd-2008-hwcd-3: as add with Z2 = 1, so D = 2 Z1 costs no multiply. */
void es_ge_madd(es_ge_p1p1 *r, const es_ge_p3 *p, const es_ge_niels *q)
{
    es_fe a, b, c, d, t;
    es_fe_sub(&t, &p->Y, &p->X);
    es_fe_mul(&a, &t, &q->YminusX);
    es_fe_add(&t, &p->Y, &p->X);
    es_fe_mul(&b, &t, &q->YplusX);
    es_fe_mul(&c, &p->T, &q->T2d);
    es_fe_add(&d, &p->Z, &p->Z);
    es_fe_sub(&r->E, &b, &a);
    es_fe_sub(&r->F, &d, &c);
    es_fe_add(&r->G, &d, &c);
    es_fe_add(&r->H, &b, &a);
}

void es_ge_msub(es_ge_p1p1 *r, const es_ge_p3 *p, const es_ge_niels *q)
{
    es_fe a, b, c, d, t;
    es_fe_sub(&t, &p->Y, &p->X);
    es_fe_mul(&a, &t, &q->YplusX);
    es_fe_add(&t, &p->Y, &p->X);
    es_fe_mul(&b, &t, &q->YminusX);
    es_fe_mul(&c, &p->T, &q->T2d);
    es_fe_add(&d, &p->Z, &p->Z);
    es_fe_sub(&r->E, &b, &a);
    es_fe_add(&r->F, &d, &c);
    es_fe_sub(&r->G, &d, &c);
    es_fe_add(&r->H, &b, &a);
}

/* dbl-2008-hwcd with a = -1: A = X^2, B = Y^2, C = 2 Z^2,
 * E = (X+Y)^2 - A - B, G = B - A, F = G - C, H = -(A + B). */
void es_ge_dbl(es_ge_p1p1 *r, const es_ge_p3 *p)
{
    es_fe a, b, c, t;
    es_fe_sq(&a, &p->X);
    es_fe_sq(&b, &p->Y);
    es_fe_sq(&c, &p->Z);
    es_fe_add(&c, &c, &c);
    es_fe_add(&t, &p->X, &p->Y);
    es_fe_sq(&t, &t);
    es_fe_add(&r->H, &a, &b); /* A + B, negated below */
    es_fe_sub(&r->E, &t, &r->H);
    es_fe_sub(&r->G, &b, &a);
    es_fe_sub(&r->F, &r->G, &c);
    es_fe_neg(&r->H, &r->H);
}

void es_ge_p1p1_to_p3(es_ge_p3 *r, const es_ge_p1p1 *p)
{
    es_fe_mul(&r->X, &p->E, &p->F);
    es_fe_mul(&r->Y, &p->G, &p->H);
    es_fe_mul(&r->Z, &p->F, &p->G);
    es_fe_mul(&r->T, &p->E, &p->H);
}

void es_ge_p1p1_to_p2(es_ge_p3 *r, const es_ge_p1p1 *p)
{
    es_fe_mul(&r->X, &p->E, &p->F);
    es_fe_mul(&r->Y, &p->G, &p->H);
    es_fe_mul(&r->Z, &p->F, &p->G);
}

void es_ge_neg(es_ge_p3 *r, const es_ge_p3 *p)
{
    es_fe_neg(&r->X, &p->X);
    r->Y = p->Y;
    r->Z = p->Z;
    es_fe_neg(&r->T, &p->T);
}

void es_ge_add_p3(es_ge_p3 *r, const es_ge_p3 *p, const es_ge_p3 *q)
{
    es_ge_cached c;
    es_ge_p1p1 t;
    es_ge_to_cached(&c, q);
    es_ge_add(&t, p, &c);
    es_ge_p1p1_to_p3(r, &t);
}

void es_ge_mul8(es_ge_p3 *r, const es_ge_p3 *p)
{
    es_ge_p1p1 t;
    es_ge_dbl(&t, p);
    es_ge_p1p1_to_p2(r, &t);
    es_ge_dbl(&t, r);
    es_ge_p1p1_to_p2(r, &t);
    es_ge_dbl(&t, r);
    es_ge_p1p1_to_p3(r, &t);
}

/* (X : Y : Z) is the identity (0, 1) iff X = 0 and Y = Z. */
int es_ge_is_identity_vartime(const es_ge_p3 *p)
{
    return es_fe_is_zero_vartime(&p->X) && es_fe_equal_vartime(&p->Y, &p->Z);
}

int es_ge_is_small_order_vartime(const es_ge_p3 *p)
{
    es_ge_p3 t;
    es_ge_mul8(&t, p);
    return es_ge_is_identity_vartime(&t);
}
