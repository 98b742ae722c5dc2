/* The batch equation over a range of candidates, and the bisection that
 * turns a failed batch into per-item verdicts (ed25519_batch.h).
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
 * Every array an equation needs, the multi-scalar multiplication's scratch
 * included, was sized for the whole batch by the caller: nothing here
 * allocates.
 */
#include <string.h>

#include "ed25519_batch.h"

#define NO_SLOT SIZE_MAX

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

/* Evaluates the batch equation over cands[lo..hi).
 * Returns 1 if it holds, 0 if not, -1 if the scratch was too small. */
static int check_range(es_batch_bisection *ctx, size_t lo, size_t hi)
{
    if (hi - lo == 1) {
        /* One item: the single equation itself (z would only scale it). */
        const es_batch_candidate *cd = &ctx->cands[lo];
        ctx->work.single_checks++;
        return es_ed25519_check_decoded_vartime(&ctx->keys[cd->key], &cd->R, cd->S, cd->k) == 0;
    }
    size_t npts = 0, nkeys = 0;
    es_sc_wide sumS;
    uint8_t reduced[32];
    es_sc_wide_zero(&sumS);
    for (size_t c = lo; c < hi; c++) {
        const es_batch_candidate *cd = &ctx->cands[c];
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
    if (es_msm_vartime(&sum, ctx->scalars, ctx->points, npts, ctx->impl->msm_buckets, ctx->msm) !=
        0)
        return -1; /* scratch too small: a bug, reported as an error */
    es_ge_mul8(&sum, &sum);
    return es_ge_is_identity_vartime(&sum);
}

static void mark_valid(es_batch_bisection *ctx, size_t lo, size_t hi)
{
    for (size_t c = lo; c < hi; c++)
        ctx->verdicts[ctx->cands[c].item] = 1;
}

/* Decides every item of cands[lo..hi) by its single equation and returns
 * how many are invalid. known_bad: the range is known to hold an invalid
 * item; if none is found the checks contradicted each other (only an
 * arithmetic bug can cause that), which is flagged for the caller. */
static size_t decide_singly(es_batch_bisection *ctx, size_t lo, size_t hi, int known_bad)
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
 * -1 if the scratch was too small. known_bad: the range is known to hold an
 * invalid item (its sibling passed while their parent failed), so its own
 * equation is not evaluated. The left half is resolved first; when it holds no
 * invalid item the right half must hold one (the parent's equation is the
 * sum of the two) and is not evaluated either. Small ranges, and every range
 * once the budget is spent, are decided item by item. */
static long resolve(es_batch_bisection *ctx, size_t lo, size_t hi, int known_bad)
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

int es_batch_bisect_vartime(es_batch_bisection *ctx, size_t m)
{
    for (size_t j = 0; j < ctx->nkeys; j++)
        ctx->key_slot[j] = NO_SLOT;
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
