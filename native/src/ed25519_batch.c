/* Batch verification with per-item verdicts.
 *
 * Equation (Bernstein, Duif, Lange, Schwabe, Yang, "High-speed high-security
 * signatures", CHES 2011, section 5), in its cofactored form: with random
 * 128-bit z_i, accept the batch iff
 *     [8]( -(sum z_i S_i) B + sum z_i R_i + sum_A (sum_{i: A_i = A} z_i k_i) A ) = O.
 * Terms of items that share a public key are merged, so the multi-scalar
 * multiplication has n + (distinct keys) + 1 terms. A forged item survives a
 * batch only with probability about 2^-128 over the choice of z (z_i is odd,
 * hence invertible mod L; the point [8](R_i + k_i A_i - S_i B) lies in the
 * subgroup of prime order L).
 *
 * Per-item verdicts: a failed (sub)batch is split in two halves; a half that
 * passes marks its items valid, and when the left half holds no invalid item
 * the right one must hold one (the equation is a sum), so it is split without
 * being checked. With k bad items out of n this costs O(k log n) sub-batch
 * checks instead of n single verifications. An attacker who spreads invalid
 * items so that every sub-batch fails would make that cost grow to
 * O(n log n) terms, so sub-batches get a budget proportional to n, after
 * which every undecided item is decided by its single equation; ranges of a
 * few items are decided that way anyway. Every verdict therefore rests on a
 * direct single equation or on a passing (sub)batch, and equals the
 * single-signature rule because the single equation is this one with n = 1
 * and z = 1 (z only scales a point of prime order).
 *
 * Randomness: z_i come from the operating system's CSPRNG
 * (ed25519_random.c: getrandom(2) on Linux, arc4random_buf on the BSDs and
 * macOS, /dev/urandom otherwise).
 */
#include <stdlib.h>
#include <string.h>

#include "es_ed25519.h"
#include "es_sha512.h"
#include "ed25519_dispatch.h"
#include "ed25519_internal.h"
#include "ed25519_random.h"

#define NO_SLOT ((size_t)-1)

/* Bisection's work, in hundredths of one single-signature equation (one
 * double-base scalar multiplication, about 330 point operations). A sub-batch
 * equation over m items with j distinct keys costs about COST_FIXED (the
 * 253-bit key and base-point terms' doublings) + per-item m + per-key j:
 * Straus (up to 48 terms) costs more per term than Pippenger, and Pippenger
 * with a bucket kernel (AVX-512 IFMA) less than without. Rough figures
 * measured with a C loop over es_msm_vartime on an AVX-512 IFMA machine,
 * rounded up. */
#define COST_FIXED 100
#define STRAUS_TERMS 48
static const struct {
    uint64_t per_item, per_key;
} msm_cost[3] = {
    {20, 25}, /* Straus */
    {15, 20}, /* portable Pippenger */
    {6, 9},   /* Pippenger with a bucket kernel */
};
/* Once sub-batch equations have cost BUDGET_BASE + BUDGET_PER_ITEM n, every
 * item not yet decided is decided by its single equation. With invalid
 * items spread so that every sub-batch fails (the attacker's best pattern)
 * the call then costs at most a quarter of a single equation per item more
 * than verifying every item alone after the batch's decoding and hashing,
 * about 1.2 times native.verify on every item (a single verification also
 * decodes A and R: about 1.25 equations). Bisection needs about
 * 2 k log2(n / k) sub-batches for k invalid items, within the budget while
 * k is small, which is the case it exists for. */
#define BUDGET_PER_ITEM 25
#define BUDGET_BASE 800
/* A range this small that has to be resolved is decided item by item: its
 * sub-batch equations would cost about as much as the single ones and
 * could fail again. */
#define SINGLES_MAX 4

typedef struct {
    es_ge_p3 R;
    uint8_t z[32];      /* random odd 128-bit coefficient, zero-extended */
    uint32_t zS[12];    /* z * S, unreduced */
    uint32_t zk[12];    /* z * k, unreduced */
    uint8_t k[32];  /* SHA-512(R || A || M) mod L */
    const uint8_t *S;
    size_t item;    /* index of the item in the caller's arrays */
    size_t key;     /* index of its (distinct) public key */
} candidate;

typedef struct {
    const es_ed25519_impl *impl; /* kernels chosen once per process */
    const candidate *cands;
    const es_ge_p3 *keys; /* decoded distinct keys */
    uint8_t *verdicts;
    /* scratch for one sub-batch equation, sized for the whole batch */
    es_ge_p3 *points;
    uint8_t *scalars;
    es_sc_wide *key_acc; /* one per distinct key */
    size_t *key_slot; /* distinct key -> position in key_list, or NO_SLOT */
    size_t *key_list;
    es_ed25519_batch_work work;
    int whole_checked; /* the first equation (the whole batch) was evaluated */
    int inconsistent;  /* a range known to fail held no invalid item */
    uint64_t spent, budget; /* bisection work, in COST units (see above) */
} batch_ctx;

/* Evaluates the batch equation over cands[lo..hi).
 * Returns 1 if it holds, 0 if not, -1 if memory ran out. */
static int check_range(batch_ctx *ctx, size_t lo, size_t hi)
{
    if (hi - lo == 1) {
        /* One item: the single equation itself (z would only scale it). */
        const candidate *cd = &ctx->cands[lo];
        ctx->work.single_checks++;
        return es_ed25519_check_decoded_vartime(&ctx->keys[cd->key], &cd->R, cd->S, cd->k) == 0;
    }
    size_t npts = 0, nkeys = 0;
    es_sc_wide sumS;
    uint8_t reduced[32];
    es_sc_wide_zero(&sumS);
    for (size_t c = lo; c < hi; c++) {
        const candidate *cd = &ctx->cands[c];
        ctx->points[npts] = cd->R;
        memcpy(ctx->scalars + 32 * npts, cd->z, 32);
        npts++;
        es_sc_wide_add(&sumS, cd->zS);
        if (ctx->key_slot[cd->key] == NO_SLOT) {
            ctx->key_slot[cd->key] = nkeys;
            ctx->key_list[nkeys++] = cd->key;
            es_sc_wide_zero(&ctx->key_acc[cd->key]);
        }
        es_sc_wide_add(&ctx->key_acc[cd->key], cd->zk);
    }
    for (size_t j = 0; j < nkeys; j++) {
        const size_t key = ctx->key_list[j];
        ctx->points[npts] = ctx->keys[key];
        es_sc_wide_reduce(ctx->scalars + 32 * npts, &ctx->key_acc[key]);
        npts++;
        ctx->key_slot[key] = NO_SLOT;
    }
    ctx->points[npts] = es_ge_base;
    es_sc_wide_reduce(reduced, &sumS);
    es_sc_neg(ctx->scalars + 32 * npts, reduced);
    npts++;

    if (ctx->whole_checked) {
        ctx->work.msm_checks++;
        ctx->work.msm_terms += npts;
    }
    const int model = npts <= STRAUS_TERMS ? 0 : ctx->impl->msm_buckets ? 2 : 1;
    ctx->spent += COST_FIXED + msm_cost[model].per_item * (uint64_t)(hi - lo) +
                  msm_cost[model].per_key * (uint64_t)nkeys;
    es_ge_p3 sum;
    if (es_msm_vartime(&sum, ctx->scalars, ctx->points, npts, ctx->impl->msm_buckets, NULL) != 0)
        return -1;
    es_ge_mul8(&sum, &sum);
    return es_ge_is_identity_vartime(&sum);
}

static void mark_valid(batch_ctx *ctx, size_t lo, size_t hi)
{
    for (size_t c = lo; c < hi; c++)
        ctx->verdicts[ctx->cands[c].item] = 1;
}

/* Decides every item of cands[lo..hi) by its single equation and returns
 * how many are invalid. known_bad: the range is known to hold an invalid
 * item; if none is found the checks contradicted each other (only an
 * arithmetic bug can cause that), which is flagged for the caller. */
static size_t decide_singly(batch_ctx *ctx, size_t lo, size_t hi, int known_bad)
{
    size_t bad = 0;
    for (size_t c = lo; c < hi; c++) {
        if (check_range(ctx, c, c + 1) == 1)
            mark_valid(ctx, c, c + 1);
        else
            bad++;
    }
    if (known_bad && bad == 0)
        ctx->inconsistent = 1;
    return bad;
}

/* Decides cands[lo..hi) and returns the number of invalid items in it, or
 * -1 if memory ran out. known_bad: the range is known to hold an invalid
 * item (its sibling passed while their parent failed), so its own equation
 * is not evaluated. The left half is resolved first; when it holds no
 * invalid item the right half must hold one (the parent's equation is the
 * sum of the two) and is not evaluated either. Small ranges, and every range
 * once the budget is spent, are decided item by item. */
static long resolve(batch_ctx *ctx, size_t lo, size_t hi, int known_bad)
{
    if (hi - lo <= SINGLES_MAX || ctx->spent >= ctx->budget)
        return (long)decide_singly(ctx, lo, hi, known_bad);
    if (!known_bad) {
        const int ok = check_range(ctx, lo, hi);
        if (ok < 0)
            return -1;
        if (ok) {
            mark_valid(ctx, lo, hi);
            return 0;
        }
    }
    const size_t mid = lo + (hi - lo) / 2;
    const long left = resolve(ctx, lo, mid, 0);
    if (left < 0)
        return -1;
    const long right = resolve(ctx, mid, hi, left == 0);
    if (right < 0)
        return -1;
    return left + right;
}

/* Evaluates the whole batch cands[0..m) once and, if it fails, bisects with
 * a budget of sub-batch work proportional to m. Returns 0, or -1 if memory
 * ran out. */
static int bisect(batch_ctx *ctx, size_t m)
{
    if (m <= 1) {
        decide_singly(ctx, 0, m, 0);
        return 0;
    }
    const int ok = check_range(ctx, 0, m);
    if (ok < 0)
        return -1;
    ctx->whole_checked = 1;
    if (ok) {
        mark_valid(ctx, 0, m);
        return 0;
    }
    ctx->spent = 0;
    ctx->budget = BUDGET_BASE + BUDGET_PER_ITEM * (uint64_t)m;
    if (resolve(ctx, 0, m, 1) < 0)
        return -1;
    if (ctx->inconsistent) {
        /* Inconsistent checks (a bug, not bad input): decide every item by
         * the single equation, which is always correct, only slower. */
        for (size_t c = 0; c < m; c++)
            ctx->verdicts[ctx->cands[c].item] = check_range(ctx, c, c + 1) == 1;
    }
    return 0;
}

typedef struct {
    const uint8_t *bytes;
    size_t item;
} key_ref;

/* k = SHA-512(R || A || M) mod L for every candidate; eight at a time with
 * the x8 kernel when there is one (messages up to 16 KiB; longer ones, and
 * the remainder, go one by one). Returns -1 if scratch memory ran out. */
#define X8_MAX_MESSAGE 16384
static int challenges(candidate *cands, size_t m, es_sha512_x8_fn x8, const uint8_t *keys,
                      size_t n_keys, const uint8_t *signatures, const uint8_t *messages,
                      const size_t *offsets)
{
    size_t c = 0;
    if (m >= 8 && x8) {
        for (; c + 8 <= m; c += 8) {
            uint8_t prefix[8][64], digest[8][64];
            const uint8_t *pre[8], *msg[8];
            size_t pre_len[8], msg_len[8], longest = 0;
            for (int j = 0; j < 8; j++) {
                const size_t i = cands[c + (size_t)j].item;
                memcpy(prefix[j], signatures + 64 * i, 32);
                memcpy(prefix[j] + 32, keys + (n_keys == 1 ? 0 : 32 * i), 32);
                pre[j] = prefix[j];
                pre_len[j] = 64;
                msg_len[j] = offsets[i + 1] - offsets[i];
                msg[j] = messages ? messages + offsets[i] : prefix[j]; /* unread if empty */
                if (msg_len[j] > longest)
                    longest = msg_len[j];
            }
            if (longest > X8_MAX_MESSAGE)
                break; /* the rest one by one */
            if (x8(digest, pre, pre_len, msg, msg_len) != 0)
                return -1;
            for (int j = 0; j < 8; j++)
                es_sc_reduce64(cands[c + (size_t)j].k, digest[j]);
        }
    }
    for (; c < m; c++) {
        const size_t i = cands[c].item;
        es_ed25519_challenge(cands[c].k, signatures + 64 * i, keys + (n_keys == 1 ? 0 : 32 * i),
                             messages ? messages + offsets[i] : NULL, offsets[i + 1] - offsets[i]);
    }
    return 0;
}

/* Decodes count point encodings (RFC 8032 5.1.3 rules, as
 * es_ge_frombytes_vartime) with the exponentiations run side by side
 * (es_fe_pow22523_many: sixteen at a time with the x16 kernel if any).
 * ok[i] = 1 if encs[i] decoded into out[i]. Returns -1 if memory ran out. */
static int decode_many_vartime(es_ge_p3 *out, uint8_t *ok, const uint8_t *const *encs,
                               size_t count, es_fe_pow22523_x16_fn x16)
{
    if (count == 0)
        return 0;
    es_ge_decompress_state *st = malloc(count * sizeof *st);
    es_fe *w = malloc(count * sizeof *w), *w_pow = malloc(count * sizeof *w_pow);
    size_t *pos = malloc(count * sizeof *pos);
    if (!st || !w || !w_pow || !pos) {
        free(st);
        free(w);
        free(w_pow);
        free(pos);
        return -1;
    }
    size_t live = 0;
    for (size_t i = 0; i < count; i++) {
        ok[i] = es_ge_decompress_begin_vartime(&st[live], encs[i]) == 0;
        if (ok[i]) {
            w[live] = st[live].w;
            pos[live++] = i;
        }
    }
    es_fe_pow22523_many(w_pow, w, live, x16);
    for (size_t j = 0; j < live; j++)
        ok[pos[j]] = es_ge_decompress_end_vartime(&out[pos[j]], &st[j], &w_pow[j]) == 0;
    free(st);
    free(w);
    free(w_pow);
    free(pos);
    return 0;
}

static int key_ref_cmp(const void *a, const void *b)
{
    return memcmp(((const key_ref *)a)->bytes, ((const key_ref *)b)->bytes, 32);
}

int es_ed25519_batch_offsets_check(const size_t *offsets, size_t n, size_t messages_len,
                                   size_t *bad_index)
{
    size_t bad = 0;
    if (offsets) {
        for (bad = 0; bad <= n; bad++)
            if (offsets[bad] > messages_len || (bad > 0 && offsets[bad] < offsets[bad - 1]))
                break;
        if (bad > n)
            return 0;
    }
    if (bad_index)
        *bad_index = bad;
    return -1;
}

int es_ed25519_verify_batch_vartime(const uint8_t *keys, size_t keys_len, const uint8_t *signatures,
                                    size_t signatures_len, const uint8_t *messages,
                                    size_t messages_len, const size_t *offsets, size_t n,
                                    uint8_t *verdicts)
{
    return es_ed25519_verify_batch_counted_vartime(keys, keys_len, signatures, signatures_len,
                                                   messages, messages_len, offsets, n, verdicts,
                                                   NULL);
}

int es_ed25519_verify_batch_counted_vartime(const uint8_t *keys, size_t keys_len,
                                            const uint8_t *signatures, size_t signatures_len,
                                            const uint8_t *messages, size_t messages_len,
                                            const size_t *offsets, size_t n, uint8_t *verdicts,
                                            es_ed25519_batch_work *work)
{
    if (n == 0)
        return 0;
    /* Lengths first: nothing below reads a byte outside what they describe. */
    if (n > SIZE_MAX / (4 * sizeof(es_ge_p3))) /* also bounds 64 * n and the scratch sizes */
        return -1;
    if (!keys || !signatures || !verdicts || signatures_len != 64 * n ||
        (keys_len != 32 && keys_len != 32 * n))
        return -1;
    if ((!messages && messages_len != 0) ||
        es_ed25519_batch_offsets_check(offsets, n, messages_len, NULL) != 0)
        return -1;
    const size_t n_keys = keys_len / 32;
    const es_ed25519_impl *impl = es_ed25519_active_impl();
    memset(verdicts, 0, n);

    int rc = -1;
    size_t *item_key = malloc(n * sizeof *item_key);
    key_ref *refs = n_keys > 1 ? malloc(n * sizeof *refs) : NULL;
    es_ge_p3 *dec_keys = malloc(n_keys * sizeof *dec_keys);
    candidate *cands = malloc(n * sizeof *cands);
    uint8_t *rnd = malloc(16 * n);
    batch_ctx ctx = {0};
    ctx.points = malloc((2 * n + 1) * sizeof *ctx.points);
    ctx.scalars = malloc((2 * n + 1) * 32);
    ctx.key_acc = malloc(n_keys * sizeof *ctx.key_acc);
    ctx.key_slot = malloc(n_keys * sizeof *ctx.key_slot);
    ctx.key_list = malloc(n_keys * sizeof *ctx.key_list);
    if (!item_key || (n_keys > 1 && !refs) || !dec_keys || !cands || !rnd || !ctx.points ||
        !ctx.scalars || !ctx.key_acc || !ctx.key_slot || !ctx.key_list)
        goto done;

    /* Decode each distinct key once: sort the key references so equal keys
     * are adjacent (many items of one gateway share a key). */
    size_t ndistinct = 0;
    if (n_keys == 1) {
        const int ok = es_ed25519_decode_key_vartime(&dec_keys[0], keys) == 0;
        for (size_t i = 0; i < n; i++)
            item_key[i] = ok ? 0 : NO_SLOT;
        ndistinct = 1;
    } else {
        for (size_t i = 0; i < n; i++) {
            refs[i].bytes = keys + 32 * i;
            refs[i].item = i;
        }
        qsort(refs, n, sizeof *refs, key_ref_cmp);
        /* encs[j] = encoding of the j-th distinct key, first[j] = its first ref */
        /* calloc, not malloc: gcc 12 at -O3 cannot see that decoding reads
         * only the entries written below and warns (maybe-uninitialized). */
        const uint8_t **encs = calloc(n, sizeof *encs);
        uint8_t *ok = malloc(n);
        size_t nenc = 0;
        if (!encs || !ok) {
            free(encs);
            free(ok);
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            if (i == 0 || memcmp(refs[i].bytes, refs[i - 1].bytes, 32) != 0)
                encs[nenc++] = refs[i].bytes;
        if (decode_many_vartime(dec_keys, ok, encs, nenc, impl->fe_pow22523_x16) != 0) {
            free(encs);
            free(ok);
            goto done;
        }
        /* Keep the keys that decode and are not of small order, renumbered. */
        size_t enc_idx = (size_t)-1;
        for (size_t i = 0; i < n; i++) {
            if (i == 0 || memcmp(refs[i].bytes, refs[i - 1].bytes, 32) != 0) {
                enc_idx++;
                if (ok[enc_idx] && !es_ed25519_small_order_encoding(refs[i].bytes)) {
                    dec_keys[ndistinct] = dec_keys[enc_idx];
                    ok[enc_idx] = 1;
                    ndistinct++;
                } else {
                    ok[enc_idx] = 0;
                }
            }
            item_key[refs[i].item] = ok[enc_idx] ? ndistinct - 1 : NO_SLOT;
        }
        free(encs);
        free(ok);
    }
    for (size_t j = 0; j < ndistinct; j++)
        ctx.key_slot[j] = NO_SLOT;

    /* Per-item checks that need no group equation: S canonical, key usable,
     * R decodes (all R of the batch are decoded together). */
    const uint8_t **r_encs = calloc(n, sizeof *r_encs);
    size_t *r_items = malloc(n * sizeof *r_items);
    es_ge_p3 *r_points = malloc(n * sizeof *r_points);
    uint8_t *r_ok = malloc(n);
    size_t nr = 0;
    if (!r_encs || !r_items || !r_points || !r_ok) {
        free(r_encs);
        free(r_items);
        free(r_points);
        free(r_ok);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *sig = signatures + 64 * i;
        if (item_key[i] == NO_SLOT || !es_sc_is_canonical(sig + 32))
            continue;
        r_encs[nr] = sig;
        r_items[nr++] = i;
    }
    const int dec_rc = decode_many_vartime(r_points, r_ok, r_encs, nr, impl->fe_pow22523_x16);
    size_t m = 0;
    for (size_t j = 0; j < nr && dec_rc == 0; j++) {
        if (!r_ok[j])
            continue;
        const size_t i = r_items[j];
        const uint8_t *sig = signatures + 64 * i;
        candidate *cd = &cands[m];
        cd->R = r_points[j];
        cd->S = sig + 32;
        cd->item = i;
        cd->key = item_key[i];
        m++;
    }
    free(r_encs);
    free(r_items);
    free(r_points);
    free(r_ok);
    if (dec_rc != 0)
        goto done;
    if (challenges(cands, m, impl->sha512_x8, keys, n_keys, signatures, messages, offsets) != 0)
        goto done;
    if (m == 0) {
        rc = 0;
        goto done;
    }

    if (m == 1) { /* nothing to combine: no coefficients needed */
        rc = bisect(&(batch_ctx){.impl = impl, .cands = cands, .keys = dec_keys, .verdicts = verdicts},
                    1);
        goto done;
    }
    if (es_os_random_bytes(rnd, 16 * m) != 0)
        goto done;
    for (size_t c = 0; c < m; c++) {
        candidate *cd = &cands[c];
        memset(cd->z, 0, 32);
        memcpy(cd->z, rnd + 16 * c, 16);
        cd->z[0] |= 1; /* odd, so never 0 mod L */
        es_sc_mul128_wide(cd->zS, cd->z, cd->S);
        es_sc_mul128_wide(cd->zk, cd->z, cd->k);
    }

    ctx.impl = impl;
    ctx.cands = cands;
    ctx.keys = dec_keys;
    ctx.verdicts = verdicts;
    rc = bisect(&ctx, m);
    if (work) {
        work->single_checks += ctx.work.single_checks;
        work->msm_checks += ctx.work.msm_checks;
        work->msm_terms += ctx.work.msm_terms;
    }

done:
    if (rc != 0)
        memset(verdicts, 0, n);
    free(item_key);
    free(refs);
    free(dec_keys);
    free(cands);
    free(rnd);
    free(ctx.points);
    free(ctx.scalars);
    free(ctx.key_acc);
    free(ctx.key_slot);
    free(ctx.key_list);
    return rc;
}
