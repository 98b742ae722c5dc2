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
 * subgroup of prime order L). A failed batch is bisected (ed25519_bisect.c)
 * with bounded work, so that every verdict equals the single-signature rule.
 *
 * One call runs in phases, in this order in the file:
 *   1 check_arguments      lengths and pointers, before any byte is read
 *     lay_out              ONE allocation for everything below, sized from n
 *   2 decode_keys          each distinct public key decoded once
 *   3 collect_candidates   S canonical, key usable, R decodes
 *   4 challenges           k = SHA-512(R || A || M) mod L
 *   5 draw_coefficients    random z from the OS (ed25519_random.c)
 *   6 es_batch_bisect_vartime  the whole batch's equation, bisection on failure
 * The bisection's equations reuse the block's arrays (and the multi-scalar
 * multiplication's scratch in it), so they allocate nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "es_ed25519.h"
#include "es_sha512.h"
#include "ed25519_batch.h"
#include "ed25519_dispatch.h"
#include "ed25519_internal.h"
#include "ed25519_random.h"

#define NO_KEY SIZE_MAX /* item_key of an item whose key is unusable */

typedef struct {
    const uint8_t *bytes;
    size_t item;
} key_ref;

/* The caller's arguments, once checked. */
typedef struct {
    const uint8_t *keys; /* n_keys == 1: one key for every item; else one per item */
    size_t n_keys;
    const uint8_t *signatures;
    const uint8_t *messages; /* item i: messages[offsets[i]..offsets[i + 1]) */
    const size_t *offsets;
    size_t n;
} batch_input;

/* Every array of one call, carved out of one allocation by lay_out. */
typedef struct {
    /* decoding: the distinct keys (phase 2), then every item's R (phase 3) */
    key_ref *refs;                     /* n, with one key per item only */
    const uint8_t **encs;              /* n encodings to decode */
    size_t *enc_item;                  /* n: the item of each R encoding */
    uint8_t *enc_ok;                   /* n: encs[j] decoded */
    es_ge_decompress_state *dec_state; /* n: decodings up to the exponentiation */
    es_fe *dec_w, *dec_w_pow;          /* n: their w and w^((p-5)/8) */
    size_t *dec_pos;                   /* n: the encoding of each w */
    /* the items */
    size_t *item_key;          /* n: the item's distinct key, or NO_KEY */
    es_ge_p3 *keys;            /* n_keys decoded distinct keys */
    es_batch_candidate *cands; /* n */
    uint8_t *rnd;              /* 16 n random bytes */
    /* phase 6's equations, for the whole batch at most: n R terms, n_keys
     * key terms and B (points holds the decoded R of phase 3 before) */
    es_ge_p3 *points;
    uint8_t *scalars;
    es_sc_wide *key_acc;         /* n_keys */
    size_t *key_slot, *key_list; /* n_keys */
    es_msm_scratch msm;
} batch_scratch;

typedef struct {
    unsigned char *base; /* NULL while measuring */
    size_t used;
    int overflow;
} layout;

/* Next piece of count * size bytes, on a 64-byte boundary. */
static void *carve(layout *l, size_t count, size_t size)
{
    const size_t start = (l->used + 63) & ~(size_t)63;
    if (start < l->used || (size && count > (SIZE_MAX - start) / size)) {
        l->overflow = 1;
        return NULL;
    }
    l->used = start + count * size;
    return l->base ? l->base + start : NULL;
}

/* Points s's arrays into base and returns the bytes they take (with base
 * NULL: only measures), or SIZE_MAX if that overflows. Pre: n is small
 * enough that n + n_keys + 1 does not overflow (check_arguments). */
static size_t lay_out(batch_scratch *s, unsigned char *base, size_t n, size_t n_keys,
                      es_msm_buckets_fn buckets)
{
    layout l = {base, 0, 0};
    const size_t terms = n + n_keys + 1;
    s->refs = carve(&l, n_keys > 1 ? n : 0, sizeof *s->refs);
    s->encs = carve(&l, n, sizeof *s->encs);
    s->enc_item = carve(&l, n, sizeof *s->enc_item);
    s->enc_ok = carve(&l, n, 1);
    s->dec_state = carve(&l, n, sizeof *s->dec_state);
    s->dec_w = carve(&l, n, sizeof *s->dec_w);
    s->dec_w_pow = carve(&l, n, sizeof *s->dec_w_pow);
    s->dec_pos = carve(&l, n, sizeof *s->dec_pos);
    s->item_key = carve(&l, n, sizeof *s->item_key);
    s->keys = carve(&l, n_keys, sizeof *s->keys);
    s->cands = carve(&l, n, sizeof *s->cands);
    s->rnd = carve(&l, n, 16);
    s->points = carve(&l, terms, sizeof *s->points);
    s->scalars = carve(&l, terms, 32);
    s->key_acc = carve(&l, n_keys, sizeof *s->key_acc);
    s->key_slot = carve(&l, n_keys, sizeof *s->key_slot);
    s->key_list = carve(&l, n_keys, sizeof *s->key_list);
    s->msm.size = es_msm_scratch_size(terms, buckets);
    if (s->msm.size == SIZE_MAX)
        return SIZE_MAX;
    s->msm.base = carve(&l, s->msm.size, 1);
    return l.overflow ? SIZE_MAX : l.used;
}

/* Phase 1: every length and pointer, before any byte is read. */
static int check_arguments(const uint8_t *keys, size_t keys_len, const uint8_t *signatures,
                           size_t signatures_len, const uint8_t *messages, size_t messages_len,
                           const size_t *offsets, size_t n, const uint8_t *verdicts)
{
    if (n > SIZE_MAX / (4 * sizeof(es_ge_p3))) /* also bounds 64 * n and the scratch sizes */
        return -1;
    if (!keys || !signatures || !verdicts || signatures_len != 64 * n ||
        (keys_len != 32 && keys_len != 32 * n))
        return -1;
    if ((!messages && messages_len != 0) ||
        es_ed25519_batch_offsets_check(offsets, n, messages_len, NULL) != 0)
        return -1;
    return 0;
}

/* Decodes count point encodings (RFC 8032 5.1.3 rules, as
 * es_ge_frombytes_vartime) with the exponentiations run side by side
 * (es_fe_pow22523_many: sixteen at a time with the x16 kernel if any), in
 * s's decoding arrays. ok[i] = 1 if encs[i] decoded into out[i]. */
static void decode_many_vartime(batch_scratch *s, es_ge_p3 *out, uint8_t *ok,
                                const uint8_t *const *encs, size_t count, es_fe_pow22523_x16_fn x16)
{
    size_t live = 0;
    for (size_t i = 0; i < count; i++) {
        ok[i] = es_ge_decompress_begin_vartime(&s->dec_state[live], encs[i]) == 0;
        if (ok[i]) {
            s->dec_w[live] = s->dec_state[live].w;
            s->dec_pos[live++] = i;
        }
    }
    es_fe_pow22523_many(s->dec_w_pow, s->dec_w, live, x16);
    for (size_t j = 0; j < live; j++) {
        const size_t i = s->dec_pos[j];
        ok[i] = es_ge_decompress_end_vartime(&out[i], &s->dec_state[j], &s->dec_w_pow[j]) == 0;
    }
}

static int key_ref_cmp(const void *a, const void *b)
{
    return memcmp(((const key_ref *)a)->bytes, ((const key_ref *)b)->bytes, 32);
}

/* Phase 2: decodes each distinct key once into s->keys (renumbered: only
 * keys that decode and are not of small order) and sets s->item_key.
 * Returns the number of usable distinct keys. With one key per item the
 * references are sorted so equal keys are adjacent (many items of one
 * gateway share a key). */
static size_t decode_keys(batch_scratch *s, const batch_input *in, es_fe_pow22523_x16_fn x16)
{
    const size_t n = in->n;
    if (in->n_keys == 1) {
        const int ok = es_ed25519_decode_key_vartime(&s->keys[0], in->keys) == 0;
        for (size_t i = 0; i < n; i++)
            s->item_key[i] = ok ? 0 : NO_KEY;
        return 1;
    }
    key_ref *refs = s->refs;
    for (size_t i = 0; i < n; i++) {
        refs[i].bytes = in->keys + 32 * i;
        refs[i].item = i;
    }
    qsort(refs, n, sizeof *refs, key_ref_cmp);
    /* encs[j] = encoding of the j-th distinct key */
    size_t nenc = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || memcmp(refs[i].bytes, refs[i - 1].bytes, 32) != 0)
            s->encs[nenc++] = refs[i].bytes;
    uint8_t *ok = s->enc_ok;
    decode_many_vartime(s, s->keys, ok, s->encs, nenc, x16);
    /* Keep the keys that decode and are not of small order, renumbered. */
    size_t ndistinct = 0, enc_idx = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || memcmp(refs[i].bytes, refs[i - 1].bytes, 32) != 0) {
            enc_idx++;
            if (ok[enc_idx] && !es_ed25519_small_order_encoding(refs[i].bytes)) {
                s->keys[ndistinct] = s->keys[enc_idx];
                ok[enc_idx] = 1;
                ndistinct++;
            } else {
                ok[enc_idx] = 0;
            }
        }
        s->item_key[refs[i].item] = ok[enc_idx] ? ndistinct - 1 : NO_KEY;
    }
    return ndistinct;
}

/* Phase 3: the checks that need no group equation -- S canonical, key
 * usable, R decodes (all R of the batch decoded together, into s->points,
 * which phase 6 needs only later). Fills s->cands and returns their number
 * m; every other item stays invalid. */
static size_t collect_candidates(batch_scratch *s, const batch_input *in, es_fe_pow22523_x16_fn x16)
{
    size_t nr = 0;
    for (size_t i = 0; i < in->n; i++) {
        const uint8_t *sig = in->signatures + 64 * i;
        if (s->item_key[i] == NO_KEY || !es_sc_is_canonical(sig + 32))
            continue;
        s->encs[nr] = sig;
        s->enc_item[nr++] = i;
    }
    decode_many_vartime(s, s->points, s->enc_ok, s->encs, nr, x16);
    size_t m = 0;
    for (size_t j = 0; j < nr; j++) {
        if (!s->enc_ok[j])
            continue;
        const size_t i = s->enc_item[j];
        es_batch_candidate *cd = &s->cands[m++];
        cd->R = s->points[j];
        cd->S = in->signatures + 64 * i + 32;
        cd->item = i;
        cd->key = s->item_key[i];
    }
    return m;
}

/* Phase 4: k = SHA-512(R || A || M) mod L for every candidate; eight at a
 * time with the x8 kernel when there is one (messages up to 16 KiB; longer
 * ones, and the remainder, go one by one). Returns -1 if the kernel fails
 * (the AVX-512F one cannot). */
#define X8_MAX_MESSAGE 16384
static int challenges(es_batch_candidate *cands, size_t m, es_sha512_x8_fn x8,
                      const batch_input *in)
{
    const uint8_t *keys = in->keys, *signatures = in->signatures, *messages = in->messages;
    const size_t *offsets = in->offsets, n_keys = in->n_keys;
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

/* Phase 5: random odd 128-bit z_c for every candidate, and z S, z k.
 * Returns -1 if the OS gave no randomness. */
static int draw_coefficients(es_batch_candidate *cands, size_t m, uint8_t *rnd)
{
    if (es_os_random_bytes(rnd, 16 * m) != 0)
        return -1;
    for (size_t c = 0; c < m; c++) {
        es_batch_candidate *cd = &cands[c];
        memset(cd->z, 0, 32);
        memcpy(cd->z, rnd + 16 * c, 16);
        cd->z[0] |= 1; /* odd, so never 0 mod L */
        es_sc_mul128_wide(cd->zS, cd->z, cd->S);
        es_sc_mul128_wide(cd->zk, cd->z, cd->k);
    }
    return 0;
}

/* Phases 2 to 6 in the scratch s, bisection state b. Returns 0 (verdicts
 * written) or -1. */
static int run_phases(es_batch_bisection *b, batch_scratch *s, const batch_input *in)
{
    b->nkeys = decode_keys(s, in, b->impl->fe_pow22523_x16);
    const size_t m = collect_candidates(s, in, b->impl->fe_pow22523_x16);
    if (challenges(s->cands, m, b->impl->sha512_x8, in) != 0)
        return -1;
    if (m == 0)
        return 0;
    /* One candidate: nothing to combine, no coefficients needed. */
    if (m > 1 && draw_coefficients(s->cands, m, s->rnd) != 0)
        return -1;
    return es_batch_bisect_vartime(b, m);
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
    if (check_arguments(keys, keys_len, signatures, signatures_len, messages, messages_len, offsets,
                        n, verdicts) != 0)
        return -1;
    const batch_input in = {keys, keys_len / 32, signatures, messages, offsets, n};
    const es_ed25519_impl *impl = es_ed25519_active_impl();
    memset(verdicts, 0, n);

    batch_scratch s;
    const size_t size = lay_out(&s, NULL, n, in.n_keys, impl->msm_buckets);
    unsigned char *block = size == SIZE_MAX ? NULL : malloc(size);
    if (!block)
        return -1;
    lay_out(&s, block, n, in.n_keys, impl->msm_buckets);
    es_batch_bisection b = {
        .impl = impl,
        .cands = s.cands,
        .keys = s.keys,
        .verdicts = verdicts,
        .points = s.points,
        .scalars = s.scalars,
        .key_acc = s.key_acc,
        .key_slot = s.key_slot,
        .key_list = s.key_list,
        .msm = &s.msm,
    };
    const int rc = run_phases(&b, &s, &in);
    free(block);
    if (rc != 0)
        memset(verdicts, 0, n);
    if (work) {
        work->single_checks += b.work.single_checks;
        work->msm_checks += b.work.msm_checks;
        work->msm_terms += b.work.msm_terms;
    }
    return rc;
}
