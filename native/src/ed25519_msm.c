/* Multi-scalar multiplication, variable time (public scalars and points only).
 *
 *   Straus (interleaved windows, with width-5 NAF digits and a table of the
 *   odd multiples P, 3P, ..., 15P per point; Straus 1964, see also Bernstein
 *   et al., "High-speed high-security signatures", 2011, section 5): one
 *   shared chain of doublings, about bits/6 additions per point. Best for a
 *   few dozen points.
 *
 *   Pippenger's bucket method (signed radix-2^c digits; Bernstein et al. 2011
 *   section 5 and Bernstein, Doumen, Lange, Oosterwijk, "Faster batch forgery
 *   identification", 2012): per window every point is added into one of
 *   2^(c-1) buckets, and the buckets are combined with a running sum
 *   (2 * 2^(c-1) additions). Cost ~ ceil(bits / c) * (n + 2^c) additions.
 *
 * es_msm_vartime splits the terms by scalar length: in batch verification the
 * n R-terms carry 128-bit coefficients while only the (merged) key terms and
 * the base point carry full 253-bit scalars, so a few long terms get their own
 * Straus multiplication instead of lengthening every window loop; when there
 * are many (one key per item) one Pippenger covers all terms. The bucket
 * phase of Pippenger can be handed to a vector kernel (es_msm_buckets_fn,
 * e.g. ed25519_msm_ifma.c) for affine points; the caller says which.
 *
 * Scratch: every array a multiplication needs is carved out of one block,
 * the caller's (a batch sizes one for its largest equation and reuses it for
 * every sub-batch) or one allocated for this call; es_msm_scratch_size gives
 * a size that fits any call with up to that many terms.
 */
#include <stdlib.h>
#include <string.h>

#include "ed25519_internal.h"

#define NAF_WIDTH 5
#define NAF_TABLE 8 /* odd multiples 1, 3, ..., 2^(w-1) - 1 = 15 */
/* Up to this many terms Straus is used: about bits/6 + 8 additions per point
 * against ceil(bits/c) * (1 + 2^c / n) for Pippenger, which only wins once
 * the bucket sums are shared by a few dozen points (cost-model estimate). */
#define STRAUS_MAX 48
/* Window widths Pippenger chooses from: portable, and with a bucket kernel
 * (whose 8 * 2^(c-1) buckets must stay small). */
#define WIDTH_MIN 4
#define WIDTH_MAX 15
#define KERNEL_WIDTH_MIN 6
#define KERNEL_WIDTH_MAX 13
/* Scalars are below 2^256: at most ceil(257 / WIDTH_MIN) windows (one bit
 * more for the top window's carry). */
#define MAX_WINDOWS ((256 + WIDTH_MIN) / WIDTH_MIN)

/* ---- scratch: pieces start on 64-byte boundaries ---- */
#define PIECE_ALIGN 64

typedef struct {
    unsigned char *next;
    size_t left;
} arena;

/* Room a piece of the given size takes in the block, alignment included. */
static size_t piece(size_t bytes)
{
    return bytes + PIECE_ALIGN - 1;
}

/* Next piece of the block, or NULL if the block is too small. */
static void *take(arena *a, size_t bytes)
{
    const size_t pad = (size_t)(-(uintptr_t)a->next) & (PIECE_ALIGN - 1);
    if (a->left < pad || a->left - pad < bytes)
        return NULL;
    void *p = a->next + pad;
    a->next += pad + bytes;
    a->left -= pad + bytes;
    return p;
}

/* Width-w NAF (w <= 8) of a scalar s: digits are 0 or odd with
 * |digit| < 2^(w-1), and any w consecutive digits hold at most one nonzero.
 * Pre: s < 2^253 (every scalar here is: reduced mod L, or 128 bits), so the
 * window starting at bit 256 - w holds at most 5 bits of s plus a carry,
 * stays below 2^(w-1) and never carries out of the 256 digits. */
static void naf_vartime(int8_t naf[256], const uint8_t s[32], int w)
{
    uint64_t x[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < 32; i++)
        x[i / 8] |= (uint64_t)s[i] << (8 * (i % 8));
    memset(naf, 0, 256);
    const uint64_t width = UINT64_C(1) << w, mask = width - 1;
    uint64_t carry = 0;
    int pos = 0;
    while (pos < 256) {
        const int word = pos / 64, bit = pos % 64;
        uint64_t buf = x[word] >> bit;
        if (bit > 64 - w)
            buf |= x[word + 1] << (64 - bit);
        const uint64_t window = carry + (buf & mask);
        if ((window & 1) == 0) { /* digit 0 here; any carry moves up one place */
            pos += 1;
            continue;
        }
        if (window < width / 2) {
            carry = 0;
            naf[pos] = (int8_t)window;
        } else {
            carry = 1;
            naf[pos] = (int8_t)((int64_t)window - (int64_t)width);
        }
        pos += w;
    }
}

static size_t scalar_bits(const uint8_t s[32])
{
    for (int i = 31; i >= 0; i--)
        if (s[i])
            return (size_t)(8 * i + 32 - __builtin_clz((unsigned)s[i]));
    return 0;
}

/* Table of odd multiples P, 3P, ..., 15P in cached form. */
static void odd_multiples(es_ge_cached table[NAF_TABLE], const es_ge_p3 *p)
{
    es_ge_p1p1 t;
    es_ge_p3 p2, cur;
    es_ge_dbl(&t, p);
    es_ge_p1p1_to_p3(&p2, &t);
    es_ge_cached c2;
    es_ge_to_cached(&c2, &p2);
    es_ge_to_cached(&table[0], p);
    cur = *p;
    for (int j = 1; j < NAF_TABLE; j++) {
        es_ge_add(&t, &cur, &c2);
        es_ge_p1p1_to_p3(&cur, &t);
        es_ge_to_cached(&table[j], &cur);
    }
}

static size_t straus_scratch_size(size_t m)
{
    return piece(m * NAF_TABLE * sizeof(es_ge_cached)) + piece(m * 256);
}

/* Straus over the terms idx[0..m): tables (m * NAF_TABLE) and nafs (m * 256)
 * are caller-provided scratch. A term whose point is the base point B (the
 * batch equation always has one) uses width-8 digits and the static table of
 * ed25519_basetable.c instead of a table built here. */
static void straus_vartime(es_ge_p3 *out, const uint8_t *scalars, const es_ge_p3 *points,
                           const size_t *idx, size_t m, es_ge_cached *tables, int8_t *nafs)
{
    int top = -1;
    size_t base_term = (size_t)-1;
    for (size_t i = 0; i < m; i++) {
        const size_t k = idx ? idx[i] : i;
        if (base_term == (size_t)-1 && memcmp(points + k, &es_ge_base, sizeof es_ge_base) == 0) {
            base_term = i;
            naf_vartime(nafs + 256 * i, scalars + 32 * k, 8);
        } else {
            naf_vartime(nafs + 256 * i, scalars + 32 * k, NAF_WIDTH);
            odd_multiples(tables + NAF_TABLE * i, points + k);
        }
        for (int pos = 255; pos > top; pos--)
            if (nafs[256 * i + (size_t)pos]) {
                top = pos;
                break;
            }
    }
    es_ge_identity(out);
    es_ge_p1p1 t;
    for (int pos = top; pos >= 0; pos--) {
        es_ge_dbl(&t, out);
        for (size_t i = 0; i < m; i++) {
            const int d = nafs[256 * i + (size_t)pos];
            if (d == 0)
                continue;
            es_ge_p1p1_to_p3(out, &t);
            if (i == base_term) {
                if (d > 0)
                    es_ge_madd(&t, out, &es_ge_base_odd_multiples[d / 2]);
                else
                    es_ge_msub(&t, out, &es_ge_base_odd_multiples[(-d) / 2]);
            } else if (d > 0) {
                es_ge_add(&t, out, &tables[NAF_TABLE * i + (size_t)(d / 2)]);
            } else {
                es_ge_sub(&t, out, &tables[NAF_TABLE * i + (size_t)(-d / 2)]);
            }
        }
        if (pos == 0)
            es_ge_p1p1_to_p3(out, &t);
        else
            es_ge_p1p1_to_p2(out, &t);
    }
}

/* Below this many points a bucket kernel's per-pass overhead is not repaid. */
#define KERNEL_MIN_POINTS 64

/* A bucket kernel handles eight windows per pass, so its cost is about
 * ceil(windows / 8) * (m + 2^c) vector additions. */
static int pippenger_width_kernel(size_t m, size_t bits)
{
    int best_c = KERNEL_WIDTH_MIN;
    size_t best = (size_t)-1;
    for (int c = KERNEL_WIDTH_MIN; c <= KERNEL_WIDTH_MAX; c++) {
        const size_t windows = (bits + 1 + (size_t)c - 1) / (size_t)c;
        const size_t cost = ((windows + 7) / 8) * (m + ((size_t)1 << c));
        if (cost < best) {
            best = cost;
            best_c = c;
        }
    }
    return best_c;
}

static int is_one_exact(const es_fe *z)
{
    es_fe one;
    es_fe_1(&one);
    return memcmp(z, &one, sizeof one) == 0;
}

/* Window width for Pippenger with m points and scalars of the given length:
 * minimises ceil((bits + 1) / c) * (m + 2^c). */
static int pippenger_width(size_t m, size_t bits)
{
    int best_c = WIDTH_MIN;
    size_t best = (size_t)-1;
    for (int c = WIDTH_MIN; c <= WIDTH_MAX; c++) {
        const size_t windows = (bits + 1 + (size_t)c - 1) / (size_t)c;
        const size_t cost = windows * (m + ((size_t)1 << c));
        if (cost < best) {
            best = cost;
            best_c = c;
        }
    }
    return best_c;
}

/* Signed radix-2^c digits of s: s = sum d_j 2^(c j), |d_j| <= 2^(c-1).
 * Pre: s < 2^bits with windows * c >= bits + 1 (see pippenger_vartime). */
static void radix_digits(int16_t *digits, size_t windows, const uint8_t s[32], int c)
{
    uint64_t x[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < 32; i++)
        x[i / 8] |= (uint64_t)s[i] << (8 * (i % 8));
    const uint64_t mask = (UINT64_C(1) << c) - 1;
    int64_t carry = 0;
    for (size_t j = 0; j < windows; j++) {
        const size_t pos = j * (size_t)c;
        uint64_t buf = 0;
        if (pos < 256) {
            const size_t word = pos / 64, bit = pos % 64;
            buf = x[word] >> bit;
            if (bit && word + 1 < 5)
                buf |= x[word + 1] << (64 - bit);
        }
        const int64_t v = (int64_t)(buf & mask) + carry;
        if (j == windows - 1) {
            /* Top window: nothing above to carry into. With windows * c >=
             * bits + 1 it holds at most c - 1 bits of s plus a carry, so
             * v <= 2^(c-1), still a valid bucket; wrapping it to -2^(c-1)
             * would drop the carry (and the multiple of 2^(c windows)). */
            digits[j] = (int16_t)v;
            break;
        }
        carry = (v + ((int64_t)1 << (c - 1))) >> c;
        digits[j] = (int16_t)(v - (carry << c));
    }
}

size_t es_msm_kernel_scratch_size(size_t windows, int c)
{
    const size_t buckets = (size_t)1 << (c - 1), groups = (windows + 7) / 8;
    return (8 * (buckets + 1) + 8 * groups) * sizeof(es_ge_p3);
}

/* Scratch of one Pippenger multiplication over m points: their cached or
 * Niels forms, their digits and either the buckets (2^(c-1) points and as
 * many flags) or the kernel's scratch. */
static size_t pippenger_scratch_size(size_t m, size_t windows, int c, int kernel)
{
    const size_t forms =
        sizeof(es_ge_cached) > sizeof(es_ge_niels) ? sizeof(es_ge_cached) : sizeof(es_ge_niels);
    const size_t buckets = (size_t)1 << (c - 1);
    const size_t phase = kernel ? piece(es_msm_kernel_scratch_size(windows, c))
                                : piece(buckets * sizeof(es_ge_p3)) + piece(buckets);
    return piece(m * forms) + piece(m * windows * sizeof(int16_t)) + phase;
}

/* Pippenger over the terms idx[0..m) with scalars below 2^bits, in scratch
 * from a. Returns -1 if a is too small. */
static int pippenger_vartime(arena *a, es_ge_p3 *out, const uint8_t *scalars,
                             const es_ge_p3 *points, const size_t *idx, size_t m, size_t bits,
                             es_msm_buckets_fn bucket_kernel, int force_c)
{
    /* Affine inputs (Z = 1, e.g. freshly decoded points) use the 7M mixed
     * addition; anything else the general 8M one. */
    int affine = 1;
    for (size_t i = 0; i < m && affine; i++)
        affine = is_one_exact(&points[idx ? idx[i] : i].Z);
    const es_msm_buckets_fn kernel = affine && m >= KERNEL_MIN_POINTS ? bucket_kernel : NULL;
    const int c = force_c  ? force_c
                  : kernel ? pippenger_width_kernel(m, bits)
                           : pippenger_width(m, bits);
    const size_t windows = (bits + 1 + (size_t)c - 1) / (size_t)c;
    const size_t nbuckets = (size_t)1 << (c - 1);
    es_ge_cached *cached = affine ? NULL : take(a, m * sizeof *cached);
    es_ge_niels *niels = affine ? take(a, m * sizeof *niels) : NULL;
    int16_t *digits = take(a, m * windows * sizeof *digits);
    if ((!cached && !niels) || !digits)
        return -1;
    for (size_t i = 0; i < m; i++) {
        const size_t k = idx ? idx[i] : i;
        if (affine)
            es_ge_affine_to_niels(&niels[i], points + k);
        else
            es_ge_to_cached(&cached[i], points + k);
        radix_digits(digits + windows * i, windows, scalars + 32 * k, c);
    }
    if (kernel) {
        void *kernel_scratch = take(a, es_msm_kernel_scratch_size(windows, c));
        if (!kernel_scratch)
            return -1;
        return kernel(out, niels, digits, m, windows, c, kernel_scratch);
    }
    es_ge_p3 *buckets = take(a, nbuckets * sizeof *buckets);
    uint8_t *used = take(a, nbuckets);
    if (!buckets || !used)
        return -1;

    es_ge_p1p1 t;
    es_ge_identity(out);
    for (size_t w = windows; w-- > 0;) {
        if (w != windows - 1) {
            for (int s = 0; s < c; s++) {
                es_ge_dbl(&t, out);
                if (s == c - 1)
                    es_ge_p1p1_to_p3(out, &t);
                else
                    es_ge_p1p1_to_p2(out, &t);
            }
        }
        memset(used, 0, nbuckets);
        for (size_t i = 0; i < m; i++) {
            const int d = digits[windows * i + w];
            if (d == 0)
                continue;
            const size_t b = (size_t)(d > 0 ? d : -d) - 1;
            if (!used[b]) {
                /* First point in the bucket: start from the point itself. */
                es_ge_identity(&buckets[b]);
                used[b] = 1;
            }
            if (affine) {
                if (d > 0)
                    es_ge_madd(&t, &buckets[b], &niels[i]);
                else
                    es_ge_msub(&t, &buckets[b], &niels[i]);
            } else if (d > 0) {
                es_ge_add(&t, &buckets[b], &cached[i]);
            } else {
                es_ge_sub(&t, &buckets[b], &cached[i]);
            }
            es_ge_p1p1_to_p3(&buckets[b], &t);
        }
        /* sum_b (b+1) * bucket[b] = sum over b of the running suffix sums. */
        es_ge_p3 running, sum;
        int have = 0;
        es_ge_identity(&running);
        es_ge_identity(&sum);
        for (size_t b = nbuckets; b-- > 0;) {
            if (used[b]) {
                if (!have) {
                    running = buckets[b];
                    have = 1;
                } else {
                    es_ge_add_p3(&running, &running, &buckets[b]);
                }
            }
            if (have)
                es_ge_add_p3(&sum, &sum, &running);
        }
        es_ge_add_p3(out, out, &sum);
    }
    return 0;
}

/* An upper bound on the window width pippenger_width (widths lo..hi =
 * WIDTH_MIN..WIDTH_MAX) or pippenger_width_kernel (KERNEL_WIDTH_MIN..
 * KERNEL_WIDTH_MAX) picks for any call with up to m points and scalars of
 * any length, without trying every length.
 *
 * With b = bits + 1, both minimise P_c (m + 2^c) where P_c = ceil(b / (k c))
 * passes (k = 1 portable, k = 8 with a kernel), ties going to the narrower
 * width. If c is picked, it beats every narrower c' < c:
 *     P_c (m + 2^c) < P_c' (m + 2^c').
 * From b <= k c P_c, P_c' <= ceil(c P_c / c') <= P_c (c + c' - 1) / c'
 * (as P_c >= 1), so c' (m + 2^c) < (c + c' - 1) (m + 2^c') for every
 * c' < c, whatever b. Its right side grows faster with m than its left, so
 * once met it stays met for more points: the widest c meeting it for m
 * bounds the width picked for up to m points. It is the widest width
 * actually picked over all lengths, or one more (checked for m up to
 * 400000). */
static int widest_width(size_t m, int lo, int hi)
{
    int widest = lo;
    for (int c = lo + 1; c <= hi; c++) {
        int possible = 1;
        for (int c2 = lo; c2 < c && possible; c2++)
            possible = (size_t)c2 * (m + ((size_t)1 << c)) <
                       (size_t)(c + c2 - 1) * (m + ((size_t)1 << c2));
        if (possible)
            widest = c;
    }
    return widest;
}

size_t es_msm_scratch_size(size_t max_terms, es_msm_buckets_fn buckets)
{
    /* Far beyond any batch; keeps every product below from overflowing. */
    if (max_terms > SIZE_MAX / 4096)
        return SIZE_MAX;
    if (max_terms <= STRAUS_MAX)
        return straus_scratch_size(max_terms);
    /* The term index, one Pippenger (over the short scalars, or over all
     * terms) and one Straus over at most STRAUS_MAX long scalars. */
    const int widest = widest_width(max_terms, WIDTH_MIN, WIDTH_MAX);
    size_t pippenger = pippenger_scratch_size(max_terms, MAX_WINDOWS, widest, 0);
    if (buckets) {
        const int widest_kernel = widest_width(max_terms, KERNEL_WIDTH_MIN, KERNEL_WIDTH_MAX);
        const size_t with_kernel = pippenger_scratch_size(max_terms, MAX_WINDOWS, widest_kernel, 1);
        if (with_kernel > pippenger)
            pippenger = with_kernel;
    }
    return piece(max_terms * sizeof(size_t)) + pippenger + straus_scratch_size(STRAUS_MAX);
}

static int msm_in(arena *a, es_ge_p3 *out, const uint8_t *scalars, const es_ge_p3 *points, size_t n,
                  es_msm_buckets_fn buckets)
{
    if (n <= STRAUS_MAX) {
        es_ge_cached *tables = take(a, n * NAF_TABLE * sizeof *tables);
        int8_t *nafs = take(a, n * 256);
        if (!tables || !nafs)
            return -1;
        straus_vartime(out, scalars, points, NULL, n, tables, nafs);
        return 0;
    }

    /* Split the terms into short (<= 128-bit) and long scalars. */
    size_t *idx = take(a, n * sizeof *idx);
    if (!idx)
        return -1;
    size_t nshort = 0, nlong = 0, short_bits = 0, long_bits = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t b = scalar_bits(scalars + 32 * i);
        if (b <= 128) {
            idx[nshort++] = i;
            if (b > short_bits)
                short_bits = b;
        } else {
            idx[n - 1 - nlong++] = i;
            if (b > long_bits)
                long_bits = b;
        }
    }
    if (nlong > STRAUS_MAX) {
        /* Many long scalars (one key per item): one Pippenger over every term
         * shares the bucket sums of the low windows between short and long
         * scalars; the high windows only see the long ones (zero digits are
         * skipped). */
        return pippenger_vartime(a, out, scalars, points, NULL, n, long_bits, buckets, 0);
    }
    es_ge_identity(out);
    if (nshort &&
        pippenger_vartime(a, out, scalars, points, idx, nshort, short_bits, buckets, 0) != 0)
        return -1;
    if (nlong) {
        /* Few long terms (shared keys and B): Straus, whose doublings cost
         * less than the bucket sums of ~253/c windows would. */
        es_ge_cached *tables = take(a, nlong * NAF_TABLE * sizeof *tables);
        int8_t *nafs = take(a, nlong * 256);
        if (!tables || !nafs)
            return -1;
        es_ge_p3 part;
        straus_vartime(&part, scalars, points, idx + nshort, nlong, tables, nafs);
        es_ge_add_p3(out, out, &part);
    }
    return 0;
}

int es_msm_vartime(es_ge_p3 *out, const uint8_t *scalars, const es_ge_p3 *points, size_t n,
                   es_msm_buckets_fn buckets, const es_msm_scratch *scratch)
{
    if (scratch) {
        arena a = {scratch->base, scratch->size};
        return msm_in(&a, out, scalars, points, n, buckets);
    }
    const size_t size = es_msm_scratch_size(n, buckets);
    void *own = size == SIZE_MAX ? NULL : malloc(size);
    if (!own)
        return -1;
    arena a = {own, size};
    const int rc = msm_in(&a, out, scalars, points, n, buckets);
    free(own);
    return rc;
}

int es_msm_pippenger_c_vartime(es_ge_p3 *out, const uint8_t *scalars, const es_ge_p3 *points,
                               size_t n, int c, es_msm_buckets_fn buckets)
{
    size_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t b = scalar_bits(scalars + 32 * i);
        if (b > bits)
            bits = b;
    }
    const size_t windows = (bits + 1 + (size_t)c - 1) / (size_t)c;
    size_t size = pippenger_scratch_size(n, windows, c, 0);
    if (buckets && pippenger_scratch_size(n, windows, c, 1) > size)
        size = pippenger_scratch_size(n, windows, c, 1);
    void *own = malloc(size);
    if (!own)
        return -1;
    arena a = {own, size};
    const int rc = pippenger_vartime(&a, out, scalars, points, NULL, n, bits, buckets, c);
    free(own);
    return rc;
}

/* a*A + b*B: Straus with width-5 NAF for A (table built here) and width-8
 * NAF for B (static table of 64 odd multiples), so B costs about 253/9
 * mixed additions instead of 253/6. */
void es_double_scalarmult_base_vartime(es_ge_p3 *out, const uint8_t a[32], const es_ge_p3 *A,
                                       const uint8_t b[32])
{
    es_ge_cached table_a[NAF_TABLE];
    int8_t naf_a[256], naf_b[256];
    naf_vartime(naf_a, a, NAF_WIDTH);
    naf_vartime(naf_b, b, 8);
    odd_multiples(table_a, A);
    int top = 255;
    while (top >= 0 && naf_a[top] == 0 && naf_b[top] == 0)
        top--;
    es_ge_identity(out);
    es_ge_p1p1 t;
    for (int pos = top; pos >= 0; pos--) {
        es_ge_dbl(&t, out);
        const int da = naf_a[pos], db = naf_b[pos];
        if (da) {
            es_ge_p1p1_to_p3(out, &t);
            if (da > 0)
                es_ge_add(&t, out, &table_a[da / 2]);
            else
                es_ge_sub(&t, out, &table_a[(-da) / 2]);
        }
        if (db) {
            es_ge_p1p1_to_p3(out, &t);
            if (db > 0)
                es_ge_madd(&t, out, &es_ge_base_odd_multiples[db / 2]);
            else
                es_ge_msub(&t, out, &es_ge_base_odd_multiples[(-db) / 2]);
        }
        if (pos == 0)
            es_ge_p1p1_to_p3(out, &t);
        else
            es_ge_p1p1_to_p2(out, &t);
    }
}
