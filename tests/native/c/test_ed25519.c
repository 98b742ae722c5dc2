/* C-level tests of the Ed25519 core, built by tests/native/test_ed25519_c.py
 * under AddressSanitizer + UndefinedBehaviorSanitizer, once with the 64-bit
 * field and once with -DES_FE25 (the 10-limb field for 32-bit targets).
 *
 * usage: test_ed25519 CASES_FILE
 * CASES_FILE has one case per line: "<0|1> <public key hex> <signature hex>
 * <message hex or ->". The program checks field, scalar and point identities,
 * then verifies every case singly and in batches of several sizes (with one
 * key per item, and with a shared key where the file's keys allow it), and
 * exits non-zero with a message on the first disagreement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ed25519_dispatch.h"
#include "ed25519_internal.h"
#include "ed25519_random.h"
#include "es_ed25519.h"
#include "es_sha512.h"

static int failures = 0;

/* The kernels of every variant this CPU runs are compared with the portable
 * code (whose table has no kernels); es_ed25519_impl_of is the test hook. */
static const es_ed25519_impl *variant_or_null(int v)
{
    return es_ed25519_impl_of((es_ed25519_variant)v);
}

#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (!(cond)) {                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fprintf(stderr, "\n");                               \
            failures++;                                          \
        }                                                        \
    } while (0)

/* xorshift64*: deterministic test data, not cryptographic. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static void random_bytes(uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)rng_next();
}

static void random_fe(es_fe *f)
{
    uint8_t b[32];
    random_bytes(b, 32);
    b[31] &= 0x7f;
    es_fe_frombytes(f, b);
}

static int fe_eq(const es_fe *a, const es_fe *b)
{
    uint8_t x[32], y[32];
    es_fe_tobytes(x, a);
    es_fe_tobytes(y, b);
    return memcmp(x, y, 32) == 0;
}

static void test_field(void)
{
    es_fe a, b, c, t, u, one;
    es_fe_1(&one);
    for (int i = 0; i < 200; i++) {
        random_fe(&a);
        random_fe(&b);
        random_fe(&c);
        /* (a + b) * c = a c + b c */
        es_fe_add(&t, &a, &b);
        es_fe_mul(&t, &t, &c);
        es_fe mc, nc;
        es_fe_mul(&mc, &a, &c);
        es_fe_mul(&nc, &b, &c);
        es_fe_add(&u, &mc, &nc);
        CHECK(fe_eq(&t, &u), "distributivity");
        /* (a - b) + b = a */
        es_fe_sub(&t, &a, &b);
        es_fe_add(&t, &t, &b);
        CHECK(fe_eq(&t, &a), "sub/add");
        /* a^2 = a * a */
        es_fe_sq(&t, &a);
        es_fe_mul(&u, &a, &a);
        CHECK(fe_eq(&t, &u), "square");
        /* a * a^-1 = 1 */
        es_fe_invert(&t, &a);
        es_fe_mul(&t, &t, &a);
        CHECK(es_fe_is_zero_vartime(&a) || fe_eq(&t, &one), "inverse");
        /* round trip of canonical encodings */
        uint8_t enc[32], dec[32];
        es_fe_tobytes(enc, &a);
        es_fe_frombytes(&t, enc);
        es_fe_tobytes(dec, &t);
        CHECK(memcmp(enc, dec, 32) == 0 && es_fe_bytes_canonical(enc), "encoding round trip");
    }
    /* The batched exponentiation of every variant (AVX-512 IFMA when the CPU
     * has it) equals the portable one, on random values and values next to p. */
    for (int v = 0; v < ES_ED25519_VARIANT_COUNT; v++) {
        const es_ed25519_impl *impl = variant_or_null(v);
        if (!impl)
            continue;
        enum { N = 203 };
        static es_fe in[N], out_portable[N], out_simd[N];
        for (int i = 0; i < N; i++) {
            uint8_t e[32];
            random_bytes(e, 32);
            e[31] &= 0x7f;
            if (i < 24) { /* p - 1 - i .. and their neighbours above p */
                memset(e, 0xff, 32);
                e[31] = 0x7f;
                e[0] = (uint8_t)(0xec - i + 12);
            }
            es_fe_frombytes(&in[i], e);
        }
        es_fe_pow22523_many(out_portable, in, N, NULL);
        es_fe_pow22523_many(out_simd, in, N, impl->fe_pow22523_x16);
        for (int i = 0; i < N; i++) {
            es_fe single;
            es_fe_pow22523(&single, &in[i]);
            CHECK(fe_eq(&out_portable[i], &single) && fe_eq(&out_simd[i], &single),
                  "pow22523_many element %d (%s)", i, impl->name);
        }
    }
    /* sqrt(-1)^2 = -1 */
    es_fe_sq(&t, &es_fe_sqrtm1);
    es_fe_add(&t, &t, &one);
    CHECK(es_fe_is_zero_vartime(&t), "sqrt(-1)");
    /* p itself and p + 1 are non-canonical; p - 1 is canonical and equals -1. */
    uint8_t p[32];
    memset(p, 0xff, 32);
    p[0] = 0xed;
    p[31] = 0x7f;
    CHECK(!es_fe_bytes_canonical(p), "p must be non-canonical");
    p[0] = 0xee;
    CHECK(!es_fe_bytes_canonical(p), "p + 1 must be non-canonical");
    p[0] = 0xec;
    CHECK(es_fe_bytes_canonical(p), "p - 1 must be canonical");
    es_fe_frombytes(&t, p);
    es_fe_add(&t, &t, &one);
    CHECK(es_fe_is_zero_vartime(&t), "p - 1 = -1");
    /* Loose inputs at the documented bounds survive mul (a + b with a, b tight). */
    es_fe big;
    es_fe_neg(&big, &one); /* -1 = p - 1: every limb at its maximum */
    es_fe_add(&t, &big, &big);
    es_fe_mul(&u, &t, &t); /* (-2)^2 = 4 */
    es_fe four;
    es_fe_1(&four);
    es_fe_add(&four, &four, &four);
    es_fe_add(&four, &four, &four);
    CHECK(fe_eq(&u, &four), "loose bound multiply");
}

static void test_scalars(void)
{
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    uint8_t x[32], y[32], z[32], wide[64] = {0};
    CHECK(!es_sc_is_canonical(L), "L is not canonical");
    memcpy(x, L, 32);
    x[0]--;
    CHECK(es_sc_is_canonical(x), "L - 1 is canonical");
    /* (L - 1) + 1 = 0, (L - 1) * (L - 1) = 1 */
    uint8_t one[32] = {1};
    es_sc_add(y, x, one);
    CHECK(memcmp(y, (uint8_t[32]){0}, 32) == 0, "L - 1 + 1");
    es_sc_mul(y, x, x);
    CHECK(memcmp(y, one, 32) == 0, "(-1)^2");
    /* L reduces to 0 and 2^512 - 1 reduces to something canonical */
    memcpy(wide, L, 32);
    es_sc_reduce64(y, wide);
    CHECK(memcmp(y, (uint8_t[32]){0}, 32) == 0, "L mod L");
    memset(wide, 0xff, 64);
    es_sc_reduce64(y, wide);
    CHECK(es_sc_is_canonical(y), "(2^512 - 1) mod L canonical");
    for (int i = 0; i < 200; i++) {
        random_bytes(wide, 64);
        es_sc_reduce64(x, wide);
        random_bytes(wide, 64);
        es_sc_reduce64(y, wide);
        /* x - y + y = x and x * y = y * x */
        es_sc_neg(z, y);
        es_sc_add(z, x, z);
        es_sc_add(z, z, y);
        CHECK(memcmp(z, x, 32) == 0, "scalar add/neg");
        uint8_t xy[32], yx[32];
        es_sc_mul(xy, x, y);
        es_sc_mul(yx, y, x);
        CHECK(memcmp(xy, yx, 32) == 0 && es_sc_is_canonical(xy), "scalar mul");
    }
}

/* Unreduced sums of z * a equal the same sums reduced at every step. */
static void test_wide_scalars(void)
{
    es_sc_wide acc;
    uint8_t sum[32] = {0}, got[32];
    es_sc_wide_zero(&acc);
    for (int i = 0; i < 3000; i++) {
        uint8_t z[32] = {0}, a[32], wide[64], prod[32];
        uint32_t p[12];
        random_bytes(z, 16);
        if (i % 7 == 0)
            memset(z, 0xff, 16); /* largest coefficient */
        random_bytes(wide, 64);
        es_sc_reduce64(a, wide);
        es_sc_mul128_wide(p, z, a);
        es_sc_wide_add(&acc, p);
        es_sc_mul(prod, z, a);
        es_sc_add(sum, sum, prod);
    }
    es_sc_wide_reduce(got, &acc);
    CHECK(memcmp(got, sum, 32) == 0, "wide accumulation of 3000 products");
}

static void test_points(void)
{
    /* Small order by table lookup agrees with [8]P = O: every listed
     * encoding decodes to a point of small order, random points are neither. */
    {
        es_ge_p3 gen, P;
        uint8_t enc[32];
        /* A point of order 8 (speccheck's small-order key). */
        static const uint8_t order8[32] = {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f,
                                           0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
                                           0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6,
                                           0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a};
        CHECK(es_ge_frombytes_vartime(&gen, order8) == 0, "order-8 point decodes");
        es_ge_identity(&P);
        int listed = 0;
        for (int i = 0; i < 8; i++) {
            es_ge_tobytes(enc, &P);
            listed += es_ed25519_small_order_encoding(enc);
            es_ge_p3 Q;
            CHECK(es_ge_frombytes_vartime(&Q, enc) == 0 && es_ge_is_small_order_vartime(&Q),
                  "torsion point %d", i);
            es_ge_add_p3(&P, &P, &gen);
        }
        CHECK(listed == 8, "all eight torsion encodings listed (%d)", listed);
        CHECK(es_ge_is_identity_vartime(&P), "gen has order 8");
        for (int i = 0; i < 50; i++) {
            uint8_t k[32], zero[32] = {0}, wide[64];
            random_bytes(wide, 64);
            es_sc_reduce64(k, wide);
            es_double_scalarmult_base_vartime(&P, zero, &es_ge_base, k);
            es_ge_add_p3(&P, &P, &gen); /* mixed order: not small */
            es_ge_tobytes(enc, &P);
            CHECK(!es_ed25519_small_order_encoding(enc) && !es_ge_is_small_order_vartime(&P),
                  "mixed-order point is not small");
        }
    }
    /* The static table holds [2i + 1]B. */
    es_ge_p3 acc = es_ge_base, b2;
    es_ge_add_p3(&b2, &es_ge_base, &es_ge_base);
    for (int i = 0; i < 64; i++) {
        uint8_t enc_acc[32], enc_tab[32];
        es_ge_tobytes(enc_acc, &acc);
        /* Rebuild the table entry as a point: x = (ypx - ymx)/2, y = (ypx + ymx)/2. */
        const es_ge_niels *e = &es_ge_base_odd_multiples[i];
        es_fe two, half, x, y;
        es_fe_1(&two);
        es_fe_add(&two, &two, &two);
        es_fe_invert(&half, &two);
        es_fe_sub(&x, &e->YplusX, &e->YminusX);
        es_fe_mul(&x, &x, &half);
        es_fe_add(&y, &e->YplusX, &e->YminusX);
        es_fe_mul(&y, &y, &half);
        es_fe_tobytes(enc_tab, &y);
        enc_tab[31] |= (uint8_t)(es_fe_is_negative(&x) << 7);
        CHECK(memcmp(enc_acc, enc_tab, 32) == 0, "base table entry %d", 2 * i + 1);
        es_ge_add_p3(&acc, &acc, &b2);
    }
    /* MSM equals the sum of double-scalar multiplications, for sizes around
     * the Straus/Pippenger switch, the SIMD threshold, short (128-bit) and
     * long scalars, affine and projective points; the portable and the
     * AVX-512 IFMA code (when the CPU has it) must agree. */
    static const size_t sizes[] = {1, 2, 3, 47, 48, 49, 50, 63, 64, 65, 120, 300};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        for (int affine = 0; affine < 2; affine++) {
            const size_t n = sizes[s];
            es_ge_p3 *pts = malloc(n * sizeof *pts);
            uint8_t *sc = malloc(32 * n);
            es_ge_p3 expect, got, got_portable, t;
            es_ge_identity(&expect);
            for (size_t i = 0; i < n; i++) {
                uint8_t k[32], zero[32] = {0}, wide[64], enc[32];
                random_bytes(wide, 64);
                es_sc_reduce64(k, wide);
                es_double_scalarmult_base_vartime(&pts[i], zero, &es_ge_base, k); /* kB */
                if (affine) {
                    es_ge_tobytes(enc, &pts[i]);
                    CHECK(es_ge_frombytes_vartime(&pts[i], enc) == 0, "re-decode");
                }
                random_bytes(sc + 32 * i, 32);
                sc[32 * i + 31] &= 0x0f;
                if (i % 3 != 2) /* mostly 128-bit scalars, as batch coefficients */
                    memset(sc + 32 * i + 16, 0, 16);
                if (i % 17 == 5) /* and some extreme digits */
                    memset(sc + 32 * i, 0xff, i % 2 ? 16 : 31);
                es_double_scalarmult_base_vartime(&t, sc + 32 * i, &pts[i], zero);
                es_ge_add_p3(&expect, &expect, &t);
            }
            CHECK(es_msm_vartime(&got_portable, sc, pts, n, NULL, NULL) == 0, "msm alloc");
            uint8_t e1[32], e2[32], e3[32];
            es_ge_tobytes(e1, &expect);
            es_ge_tobytes(e3, &got_portable);
            CHECK(memcmp(e1, e3, 32) == 0, "portable msm of %zu terms (affine %d)", n, affine);
            for (int v = 0; v < ES_ED25519_VARIANT_COUNT; v++) {
                const es_ed25519_impl *impl = variant_or_null(v);
                if (!impl)
                    continue;
                CHECK(es_msm_vartime(&got, sc, pts, n, impl->msm_buckets, NULL) == 0, "msm alloc");
                es_ge_tobytes(e2, &got);
                CHECK(memcmp(e1, e2, 32) == 0, "msm of %zu terms (affine %d, %s)", n, affine,
                      impl->name);
                /* The same in the caller's scratch, sized exactly as documented. */
                const es_msm_scratch scratch = {malloc(es_msm_scratch_size(n, impl->msm_buckets)),
                                                es_msm_scratch_size(n, impl->msm_buckets)};
                CHECK(es_msm_vartime(&got, sc, pts, n, impl->msm_buckets, &scratch) == 0,
                      "msm of %zu terms in the caller's scratch (%s)", n, impl->name);
                es_ge_tobytes(e2, &got);
                CHECK(memcmp(e1, e2, 32) == 0, "msm of %zu terms in the caller's scratch (%s)", n,
                      impl->name);
                free(scratch.base);
            }
            free(pts);
            free(sc);
        }
    }
}

/* es_msm_scratch_size(N) is enough for every call of up to N terms, whatever
 * the scalars' lengths (the window width, and so the bucket count, depends
 * on both; over lengths it is not monotonic), and a scratch too small for a
 * call is refused (-1), never overrun (ASan would report an overrun). A batch sizes one scratch for
 * its whole equation and reuses it for every smaller sub-batch equation. */
static void test_msm_scratch_bound(void)
{
    enum { N = 400 };
    static const size_t lengths[] = {1, 64, 127, 128, 129, 200, 252, 253};
    static const size_t counts[] = {49, 64, 150, N};
    es_ge_p3 *pts = malloc(N * sizeof *pts);
    uint8_t *sc = malloc(32 * N);
    for (size_t i = 0; i < N; i++) {
        uint8_t k[32], zero[32] = {0}, wide[64], enc[32];
        random_bytes(wide, 64);
        es_sc_reduce64(k, wide);
        es_double_scalarmult_base_vartime(&pts[i], zero, &es_ge_base, k);
        es_ge_tobytes(enc, &pts[i]);
        CHECK(es_ge_frombytes_vartime(&pts[i], enc) == 0, "re-decode"); /* affine */
    }
    for (int v = 0; v < ES_ED25519_VARIANT_COUNT; v++) {
        const es_ed25519_impl *impl = variant_or_null(v);
        if (!impl)
            continue;
        const size_t size = es_msm_scratch_size(N, impl->msm_buckets);
        const es_msm_scratch scratch = {malloc(size), size};
        for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
            const size_t bits = lengths[l];
            for (size_t i = 0; i < N; i++) {
                uint8_t *s = sc + 32 * i;
                random_bytes(s, 32);
                for (size_t bit = bits; bit < 256; bit++)
                    s[bit / 8] &= (uint8_t)(~(1u << (bit % 8)));
                s[(bits - 1) / 8] |= (uint8_t)(1u << ((bits - 1) % 8));
            }
            for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
                es_ge_p3 got, want;
                uint8_t e1[32], e2[32];
                const size_t n = counts[c];
                CHECK(es_msm_vartime(&want, sc, pts, n, impl->msm_buckets, NULL) == 0, "msm alloc");
                CHECK(es_msm_vartime(&got, sc, pts, n, impl->msm_buckets, &scratch) == 0,
                      "%zu terms of %zu bits in scratch for %d (%s)", n, bits, N, impl->name);
                es_ge_tobytes(e1, &want);
                es_ge_tobytes(e2, &got);
                CHECK(memcmp(e1, e2, 32) == 0, "%zu terms of %zu bits, %s", n, bits, impl->name);
            }
        }
        const es_msm_scratch short_scratch = {scratch.base, es_msm_scratch_size(48, NULL) / 2};
        es_ge_p3 got;
        CHECK(es_msm_vartime(&got, sc, pts, 48, impl->msm_buckets, &short_scratch) == -1,
              "a scratch too small is refused (%s)", impl->name);
        free(scratch.base);
    }
    CHECK(es_msm_scratch_size(SIZE_MAX / 2, NULL) == SIZE_MAX, "scratch size overflow");
    free(pts);
    free(sc);
}

/* Pippenger at every window width, portable and SIMD, on scalars whose top
 * window receives a carry (all-ones patterns): 2^252 - 1 with c = 11 and
 * 2^127 - 1 with c = 4 or 8 fill exactly windows * c = bits + 1. */
static void test_pippenger_widths(void)
{
    enum { N = 100 };
    static const size_t top_bits[] = {252, 127, 128, 253};
    es_ge_p3 *pts = malloc(N * sizeof *pts);
    uint8_t *sc = malloc(32 * N);
    for (size_t i = 0; i < N; i++) {
        uint8_t k[32], zero[32] = {0}, wide[64], enc[32];
        random_bytes(wide, 64);
        es_sc_reduce64(k, wide);
        es_double_scalarmult_base_vartime(&pts[i], zero, &es_ge_base, k);
        es_ge_tobytes(enc, &pts[i]);
        CHECK(es_ge_frombytes_vartime(&pts[i], enc) == 0, "re-decode"); /* affine */
    }
    for (size_t tb = 0; tb < sizeof top_bits / sizeof *top_bits; tb++) {
        const size_t bits = top_bits[tb];
        es_ge_p3 expect, t;
        es_ge_identity(&expect);
        for (size_t i = 0; i < N; i++) {
            uint8_t *s = sc + 32 * i, zero[32] = {0};
            if (i % 4 == 0)
                memset(s, 0xff, 32); /* 2^bits - 1 after masking */
            else
                random_bytes(s, 32);
            for (size_t bit = bits; bit < 256; bit++)
                s[bit / 8] &= (uint8_t)(~(1u << (bit % 8)));
            if (i == 1) { /* make sure the top bit is set */
                s[(bits - 1) / 8] |= (uint8_t)(1u << ((bits - 1) % 8));
            }
            es_double_scalarmult_base_vartime(&t, s, &pts[i], zero);
            es_ge_add_p3(&expect, &expect, &t);
        }
        uint8_t e1[32];
        es_ge_tobytes(e1, &expect);
        for (int c = 4; c <= 13; c++)
            for (int v = 0; v < ES_ED25519_VARIANT_COUNT; v++) {
                const es_ed25519_impl *impl = variant_or_null(v);
                if (!impl)
                    continue;
                es_ge_p3 got;
                uint8_t e2[32];
                CHECK(es_msm_pippenger_c_vartime(&got, sc, pts, N, c, impl->msm_buckets) == 0,
                      "alloc");
                es_ge_tobytes(e2, &got);
                CHECK(memcmp(e1, e2, 32) == 0, "pippenger c=%d %s, %zu-bit scalars", c, impl->name,
                      bits);
            }
    }
    free(pts);
    free(sc);
}

typedef struct {
    int expect;
    uint8_t pk[32], sig[64];
    uint8_t *msg;
    size_t msg_len;
} vcase;

static int unhex(uint8_t *out, size_t cap, const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (strcmp(hex, "-") == 0)
        n = 0;
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

static vcase *load_cases(const char *path, size_t *count)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 64, n = 0;
    vcase *cases = malloc(cap * sizeof *cases);
    static char pk[200], sig[300], msg[1 << 16];
    int expect;
    while (fscanf(f, "%d %199s %299s %65535s", &expect, pk, sig, msg) == 4) {
        if (n == cap)
            cases = realloc(cases, (cap *= 2) * sizeof *cases);
        vcase *c = &cases[n];
        size_t len;
        c->expect = expect;
        c->msg = malloc(strlen(msg) / 2 + 1);
        if (unhex(c->pk, 32, pk, &len) || len != 32 || unhex(c->sig, 64, sig, &len) || len != 64 ||
            unhex(c->msg, strlen(msg) / 2 + 1, msg, &c->msg_len)) {
            fprintf(stderr, "bad line %zu in %s\n", n + 1, path);
            exit(2);
        }
        n++;
    }
    fclose(f);
    *count = n;
    return cases;
}

/* Verifies cases[lo..hi) as one batch and compares each verdict. */
static void batch_check(const vcase *cases, size_t lo, size_t hi, int shared_key)
{
    const size_t n = hi - lo;
    uint8_t *keys = malloc(32 * n), *sigs = malloc(64 * n), *verdicts = malloc(n);
    size_t *offsets = malloc((n + 1) * sizeof *offsets), total = 0;
    for (size_t i = 0; i < n; i++)
        total += cases[lo + i].msg_len;
    uint8_t *msgs = malloc(total + 1);
    offsets[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const vcase *c = &cases[lo + i];
        memcpy(keys + 32 * i, c->pk, 32);
        memcpy(sigs + 64 * i, c->sig, 64);
        memcpy(msgs + offsets[i], c->msg, c->msg_len);
        offsets[i + 1] = offsets[i] + c->msg_len;
    }
    const int rc = es_ed25519_verify_batch_vartime(keys, 32 * (shared_key ? 1 : n), sigs, 64 * n,
                                                   msgs, total, offsets, n, verdicts);
    CHECK(rc == 0, "batch [%zu, %zu) returned %d", lo, hi, rc);
    for (size_t i = 0; i < n && rc == 0; i++)
        CHECK(verdicts[i] == cases[lo + i].expect, "batch [%zu, %zu) item %zu: got %d want %d", lo,
              hi, lo + i, verdicts[i], cases[lo + i].expect);
    free(keys);
    free(sigs);
    free(verdicts);
    free(offsets);
    free(msgs);
}

static void test_cases(const vcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const vcase *c = &cases[i];
        const int ok = es_ed25519_verify_vartime(c->pk, 32, c->msg, c->msg_len, c->sig, 64) == 0;
        CHECK(ok == c->expect, "single case %zu: got %d want %d", i, ok, c->expect);
        const size_t psize = es_ed25519_prepared_size();
        uint8_t *prepared = malloc(psize);
        if (es_ed25519_prepare_key_vartime(c->pk, 32, prepared, psize) == 0) {
            const int pok = es_ed25519_verify_prepared_vartime(prepared, psize, c->msg, c->msg_len,
                                                               c->sig, 64) == 0;
            CHECK(pok == c->expect, "prepared-key case %zu: got %d want %d", i, pok, c->expect);
        } else {
            CHECK(c->expect == 0, "prepared-key case %zu: key rejected, signature expected valid",
                  i);
        }
        free(prepared);
    }
    static const size_t chunk_sizes[] = {1, 7, 48, 64, 1000000};
    for (size_t s = 0; s < sizeof chunk_sizes / sizeof *chunk_sizes; s++)
        for (size_t lo = 0; lo < n; lo += chunk_sizes[s]) {
            const size_t hi = lo + chunk_sizes[s] < n ? lo + chunk_sizes[s] : n;
            batch_check(cases, lo, hi, 0);
            /* Shared-key form when every key in the chunk is equal. */
            int same = 1;
            for (size_t i = lo + 1; i < hi && same; i++)
                same = memcmp(cases[i].pk, cases[lo].pk, 32) == 0;
            if (same)
                batch_check(cases, lo, hi, 1);
        }
}

/* The eight-lane SHA-512 (AVX-512F, where available) equals the portable one
 * for every combination of lengths around the block boundaries: with the
 * 64-byte prefix R || A, messages of 47/48 and 175/176 bytes straddle the
 * point where the length field no longer fits the last block. */
static void test_sha512_x8(void)
{
    const es_ed25519_impl *impl = variant_or_null(ES_ED25519_AVX512F);
    if (!impl || !impl->sha512_x8)
        return; /* CPU without AVX-512F: only the portable code runs */
    {
        static uint8_t data[2048];
        random_bytes(data, sizeof data);
        static const size_t lens[] = {0,   1,   46,  47,  48,  49,  63,  64,
                                      111, 112, 175, 176, 177, 300, 1000};
        const size_t nl = sizeof lens / sizeof *lens;
        for (size_t trial = 0; trial < 3 * nl; trial++) {
            const uint8_t *pre[8], *msg[8];
            size_t pre_len[8], msg_len[8];
            uint8_t out[8][64];
            for (int j = 0; j < 8; j++) {
                pre[j] = data + 3 * (size_t)j + trial;
                pre_len[j] = 64;
                msg[j] = data + 500 + 11 * (size_t)j;
                msg_len[j] = lens[(trial + (size_t)j * (trial / nl + 1)) % nl];
            }
            CHECK(impl->sha512_x8(out, pre, pre_len, msg, msg_len) == 0, "sha512 x8");
            for (int j = 0; j < 8; j++) {
                es_sha512_ctx ctx;
                uint8_t ref[64];
                es_sha512_init(&ctx);
                es_sha512_update(&ctx, pre[j], pre_len[j]);
                es_sha512_update(&ctx, msg[j], msg_len[j]);
                es_sha512_final(&ctx, ref);
                CHECK(memcmp(ref, out[j], 64) == 0, "sha512 x8 lane %d, message of %zu bytes", j,
                      msg_len[j]);
            }
        }
    }
}

/* Test-only signer (RFC 8032 5.1.6 with the secret scalar a given and the
 * nonce r from the test's deterministic generator): R = [r]B, S = r + k a mod
 * L. Variable time, which is fine for throw-away test keys. */
static void test_keypair(uint8_t pk[32], uint8_t a[32])
{
    uint8_t wide[64], zero[32] = {0};
    es_ge_p3 A;
    random_bytes(wide, 64);
    es_sc_reduce64(a, wide);
    es_double_scalarmult_base_vartime(&A, zero, &es_ge_base, a);
    es_ge_tobytes(pk, &A);
}

static void test_sign(uint8_t sig[64], const uint8_t pk[32], const uint8_t a[32],
                      const uint8_t *msg, size_t len)
{
    uint8_t wide[64], r[32], k[32], ka[32], zero[32] = {0};
    es_ge_p3 R;
    random_bytes(wide, 64);
    es_sc_reduce64(r, wide);
    es_double_scalarmult_base_vartime(&R, zero, &es_ge_base, r);
    es_ge_tobytes(sig, &R);
    es_ed25519_challenge(k, sig, pk, msg, len);
    es_sc_mul(ka, k, a);
    es_sc_add(sig + 32, r, ka);
}

enum bad_pattern { ONE_BAD, ONE_BAD_PER_PAIR, ALL_BAD };

/* The work bisection does is bounded whatever the pattern of bad items (an
 * attacker chooses it): no item's single equation is evaluated twice, and
 * the sub-batch equations after the first cost at most about two whole
 * batches of terms (a budget, then every undecided item alone); one bad item
 * still costs a few sub-batches, not N single equations. (Before the budget,
 * one bad item per pair cost about N log2 N terms and re-checked leaves.) Counts work, not
 * time; benchmarks/bench_verify.py measures the time. */
static void test_bisection_cost(void)
{
    enum { N = 256, MSG = 8 };
    static uint8_t keys[32 * N], secrets[32 * N], sigs[64 * N], msgs[MSG * N], verdicts[N];
    static size_t offsets[N + 1];
    static const char *const pattern_names[] = {"one-bad", "one-bad-per-pair", "all-bad"};
    for (int distinct = 0; distinct < 2; distinct++) {
        for (size_t i = 0; i < N; i++)
            if (distinct || i == 0)
                test_keypair(keys + 32 * i, secrets + 32 * i);
        for (int pattern = ONE_BAD; pattern <= ALL_BAD; pattern++) {
            for (size_t i = 0; i <= N; i++)
                offsets[i] = MSG * i;
            int expect[N];
            for (size_t i = 0; i < N; i++) {
                const size_t key = distinct ? i : 0;
                random_bytes(msgs + MSG * i, MSG);
                test_sign(sigs + 64 * i, keys + 32 * key, secrets + 32 * key, msgs + MSG * i, MSG);
                const int bad = pattern == ALL_BAD || (pattern == ONE_BAD_PER_PAIR && i % 2 == 1) ||
                                (pattern == ONE_BAD && i == 77);
                if (bad)
                    msgs[MSG * i] ^= 1; /* the signature no longer matches its message */
                expect[i] = !bad;
            }
            es_ed25519_batch_work work = {0, 0, 0};
            const int rc =
                es_ed25519_verify_batch_counted_vartime(keys, distinct ? 32 * N : 32, sigs, 64 * N,
                                                        msgs, MSG * N, offsets, N, verdicts, &work);
            CHECK(rc == 0, "bisection-cost batch (%s) returned %d", pattern_names[pattern], rc);
            for (size_t i = 0; i < N && rc == 0; i++)
                CHECK(verdicts[i] == expect[i], "bisection-cost %s item %zu: got %d want %d",
                      pattern_names[pattern], i, verdicts[i], expect[i]);
            CHECK(work.single_checks <= N, "%s keys, %s: %zu single equations for %d items",
                  distinct ? "distinct" : "one", pattern_names[pattern], work.single_checks, N);
            CHECK(work.msm_terms <= 2 * (distinct ? 2 * N : N),
                  "%s keys, %s: %zu sub-batch terms (%zu equations) for %d items",
                  distinct ? "distinct" : "one", pattern_names[pattern], work.msm_terms,
                  work.msm_checks, N);
            /* One bad item under one key (a gateway's batch): about log2(N)
             * sub-batches down to a range of 8, whose two halves of 4 are
             * decided item by item. (With distinct keys and the portable
             * code a sub-batch costs nearly as much as its single equations,
             * so the budget may run out: also fine.) */
            if (pattern == ONE_BAD && !distinct)
                CHECK(work.single_checks <= 8 && work.msm_checks <= 16,
                      "%s keys, one bad item: %zu single equations, %zu sub-batches",
                      distinct ? "distinct" : "one", work.single_checks, work.msm_checks);
        }
    }
}

/* A prepared key is refused (-2), never trusted, unless it is exactly a key
 * and the x coordinate its decoding gives: wrong length, a flipped bit of x,
 * x negated (p - x: on the curve, wrong sign), or x of another key. */
static void test_prepared_key_is_checked(void)
{
    uint8_t pk[32], pk2[32], a[32], a2[32], sig[64], msg[5] = {1, 2, 3, 4, 5};
    uint8_t prepared[64], other[64], bad[65];
    test_keypair(pk, a);
    test_keypair(pk2, a2);
    test_sign(sig, pk, a, msg, sizeof msg);
    CHECK(es_ed25519_prepared_size() == 64, "prepared size");
    CHECK(es_ed25519_prepare_key_vartime(pk, 32, prepared, 64) == 0, "prepare");
    CHECK(es_ed25519_prepare_key_vartime(pk, 31, other, 64) == -1, "prepare: key length");
    CHECK(es_ed25519_prepare_key_vartime(pk, 32, other, 63) == -1, "prepare: output length");
    CHECK(es_ed25519_prepare_key_vartime(pk2, 32, other, 64) == 0, "prepare other");
    CHECK(es_ed25519_verify_prepared_vartime(prepared, 64, msg, sizeof msg, sig, 64) == 0,
          "prepared verifies");
    CHECK(es_ed25519_verify_prepared_vartime(prepared, 64, msg, sizeof msg, sig, 63) == -1,
          "prepared: signature length");
    memcpy(bad, prepared, 64);
    bad[64] = 0;
    CHECK(es_ed25519_verify_prepared_vartime(bad, 65, msg, sizeof msg, sig, 64) == -2,
          "prepared: length 65");
    CHECK(es_ed25519_verify_prepared_vartime(bad, 32, msg, sizeof msg, sig, 64) == -2,
          "prepared: length 32");
    for (int bit = 0; bit < 255; bit += 7) {
        memcpy(bad, prepared, 64);
        bad[32 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK(es_ed25519_verify_prepared_vartime(bad, 64, msg, sizeof msg, sig, 64) == -2,
              "prepared: x bit %d flipped", bit);
    }
    /* x negated: p - x, canonical and on the curve, but the key's sign bit
     * says otherwise. */
    {
        es_fe x, negx;
        memcpy(bad, prepared, 64);
        es_fe_frombytes(&x, prepared + 32);
        es_fe_neg(&negx, &x);
        es_fe_tobytes(bad + 32, &negx);
        CHECK(es_ed25519_verify_prepared_vartime(bad, 64, msg, sizeof msg, sig, 64) == -2,
              "prepared: x negated");
    }
    memcpy(bad, prepared, 32);
    memcpy(bad + 32, other + 32, 32);
    CHECK(es_ed25519_verify_prepared_vartime(bad, 64, msg, sizeof msg, sig, 64) == -2,
          "prepared: x of another key");
}

/* The OS source fills every byte asked for, across getrandom's 256-byte
 * boundary, and two draws differ (equal 300-byte draws, or 300 zero bytes,
 * would mean the buffer was not written). */
static void test_os_random(void)
{
    uint8_t a[300], b[300], zero[300] = {0};
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    CHECK(es_os_random_bytes(a, sizeof a) == 0 && es_os_random_bytes(b, sizeof b) == 0,
          "OS randomness unavailable");
    CHECK(memcmp(a, b, sizeof a) != 0 && memcmp(a, zero, sizeof a) != 0 &&
              memcmp(a + 256, zero, 44) != 0,
          "OS randomness: buffers not filled");
    CHECK(es_os_random_bytes(a, 0) == 0, "OS randomness: empty request");
}

static void test_bad_arguments(void)
{
    uint8_t k[96] = {0}, s[192] = {0}, v[3] = {7, 7, 7};
    const uint8_t *msgs = (const uint8_t *)"abc";
    size_t offs[3] = {0, 2, 1}, good[4] = {0, 1, 2, 3}, past[4] = {0, 1, 4, 3}, bad = 99;
    CHECK(es_ed25519_verify_vartime(NULL, 32, NULL, 0, s, 64) == -1, "NULL key");
    CHECK(es_ed25519_verify_vartime(k, 32, NULL, 5, s, 64) == -1, "NULL message with length");
    CHECK(es_ed25519_verify_batch_vartime(k, 32, s, 128, msgs, 2, offs, 2, v) == -1,
          "decreasing offsets");
    CHECK(es_ed25519_verify_batch_vartime(k, 96, s, 128, msgs, 2, good, 2, v) == -1,
          "keys_len neither 32 nor 32 n");
    CHECK(es_ed25519_verify_batch_vartime(k, 32, s, 127, msgs, 2, good, 2, v) == -1,
          "signatures_len not 64 n");
    /* An offset past the end of the messages is refused before anything is
     * read, wherever it sits (ASan would report the read otherwise). */
    CHECK(es_ed25519_verify_batch_vartime(k, 32, s, 192, msgs, 3, past, 3, v) == -1,
          "offset past messages_len in the middle");
    CHECK(es_ed25519_verify_batch_vartime(k, 32, s, 192, msgs, 2, good, 3, v) == -1,
          "last offset past messages_len");
    CHECK(es_ed25519_verify_batch_vartime(k, 32, s, 192, NULL, 3, good, 3, v) == -1,
          "NULL messages with a length");
    CHECK(es_ed25519_batch_offsets_check(past, 3, 3, &bad) == -1 && bad == 2,
          "offsets check names offsets[2] (%zu)", bad);
    CHECK(es_ed25519_batch_offsets_check(offs, 2, 3, &bad) == -1 && bad == 2,
          "offsets check names the decreasing offsets[2] (%zu)", bad);
    CHECK(es_ed25519_batch_offsets_check(good, 3, 2, &bad) == -1 && bad == 3,
          "offsets check names offsets[n] (%zu)", bad);
    CHECK(es_ed25519_batch_offsets_check(good, 3, 3, &bad) == 0, "good offsets pass");
    CHECK(es_ed25519_verify_batch_vartime(k, 32, s, 192, msgs, 3, good, 3, v) == 0 && v[0] == 0 &&
              v[1] == 0 && v[2] == 0,
          "all-zero items are invalid, not an error");
    v[0] = 7;
    CHECK(es_ed25519_verify_batch_vartime(k, 32, s, 0, NULL, 0, offs, 0, v) == 0 && v[0] == 7,
          "empty batch touches nothing");
    uint8_t out[64];
    CHECK(es_sha512(NULL, 0, out) == 0 && es_sha512(NULL, 1, out) == -1, "sha512 NULL");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASES_FILE\n", argv[0]);
        return 2;
    }
    test_field();
    test_scalars();
    test_wide_scalars();
    test_points();
    test_pippenger_widths();
    test_msm_scratch_bound();
    test_bad_arguments();
    test_os_random();
    test_sha512_x8();
    test_bisection_cost();
    test_prepared_key_is_checked();
    size_t n = 0;
    vcase *cases = load_cases(argv[1], &n);
    if (!cases || n == 0) {
        fprintf(stderr, "no cases read from %s\n", argv[1]);
        return 2;
    }
    test_cases(cases, n);
    for (size_t i = 0; i < n; i++)
        free(cases[i].msg);
    free(cases);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok: field, scalars, points, arguments, %zu cases\n", n);
    return 0;
}
