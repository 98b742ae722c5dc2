/*
 * RFC 9162 proof generation: inclusion (PATH, 2.1.3.1) and consistency (PROOF,
 * 2.1.4.1), written as loops over the RFC's recursions.
 *
 * Both recursions emit the node of the outermost level last, so the loops walk
 * from the root down and fill the proof from its end. Each node is the MTH of a
 * range of leaves; the ranges of one proof are disjoint, so a proof costs at most
 * one pass of hashing over the leaves, with one scratch allocation.
 */
#include <stdlib.h>

#include "merkle_impl.h"
#include "sha256_impl.h"

size_t es_merkle_inclusion_proof_len(uint64_t index, uint64_t tree_size)
{
    if (index >= tree_size)
        return 0;
    size_t len = 0;
    uint64_t m = index, n = tree_size;
    while (n > 1) {
        uint64_t k = es_merkle_split(n);
        if (m < k) {
            n = k;
        } else {
            m -= k;
            n -= k;
        }
        len++;
    }
    return len;
}

size_t es_merkle_consistency_proof_len(uint64_t old_size, uint64_t new_size)
{
    if (old_size == 0 || old_size >= new_size)
        return 0;
    size_t len = 0;
    uint64_t m = old_size, n = new_size;
    int whole = 1; /* the RFC's b: is this subtree's root already known to the verifier? */
    while (m != n) {
        uint64_t k = es_merkle_split(n);
        if (m <= k) {
            n = k;
        } else {
            m -= k;
            n -= k;
            whole = 0;
        }
        len++;
    }
    return len + (whole ? 0 : 1);
}

static uint8_t *scratch_for(size_t count)
{
    size_t need = es_merkle_scratch_len(count);
    return need == 0 ? NULL : malloc(need);
}

int es_merkle_inclusion_proof_suffixed(const uint8_t *buf, size_t buf_len, const uint64_t *offsets,
                                       size_t count, const uint8_t *suffixes, size_t suffixes_len,
                                       size_t suffix_len, uint64_t index, uint8_t *proof,
                                       size_t proof_cap, size_t *proof_len)
{
    if (proof_len == NULL ||
        !es_merkle_leaves_ok(buf, buf_len, offsets, count, suffixes, suffixes_len, suffix_len))
        return -1;
    const es_merkle_leaves leaves = {buf, offsets, suffixes, suffix_len};
    if (index >= (uint64_t)count)
        return -1;
    size_t len = es_merkle_inclusion_proof_len(index, count);
    if (len > proof_cap || (proof == NULL && len > 0))
        return -1;
    *proof_len = len;
    if (len == 0)
        return 0;
    uint8_t *scratch = scratch_for(count);
    if (scratch == NULL)
        return -1;
    /* PATH(m, D[lo:hi]) = PATH(m, D[lo:lo+k]) : MTH(D[lo+k:hi])       if m < k
     *                   = PATH(m-k, D[lo+k:hi]) : MTH(D[lo:lo+k])     otherwise */
    size_t lo = 0, hi = count, m = (size_t)index, pos = len;
    while (hi - lo > 1) {
        size_t k = (size_t)es_merkle_split(hi - lo);
        uint8_t *node = proof + (--pos) * ES_MERKLE_HASH_LEN;
        if (m < k) {
            es_merkle_subtree_root(&leaves, lo + k, hi - lo - k, scratch, node);
            hi = lo + k;
        } else {
            es_merkle_subtree_root(&leaves, lo, k, scratch, node);
            lo += k;
            m -= k;
        }
    }
    free(scratch);
    return 0;
}

int es_merkle_inclusion_proof(const uint8_t *buf, size_t buf_len, const uint64_t *offsets,
                              size_t count, uint64_t index, uint8_t *proof, size_t proof_cap,
                              size_t *proof_len)
{
    return es_merkle_inclusion_proof_suffixed(buf, buf_len, offsets, count, NULL, 0, 0, index,
                                              proof, proof_cap, proof_len);
}

int es_merkle_consistency_proof(const uint8_t *buf, size_t buf_len, const uint64_t *offsets,
                                size_t count, uint64_t old_size, uint8_t *proof, size_t proof_cap,
                                size_t *proof_len)
{
    if (proof_len == NULL || !es_merkle_leaves_ok(buf, buf_len, offsets, count, NULL, 0, 0))
        return -1;
    const es_merkle_leaves leaves = {buf, offsets, NULL, 0};
    if (old_size > (uint64_t)count)
        return -1;
    size_t len = es_merkle_consistency_proof_len(old_size, count);
    if (len > proof_cap || (proof == NULL && len > 0))
        return -1;
    *proof_len = len;
    if (len == 0)
        return 0;
    uint8_t *scratch = scratch_for(count);
    if (scratch == NULL)
        return -1;
    /* SUBPROOF(m, D[lo:hi], b), n = hi - lo:
     *   m == n: {} if b, else {MTH(D[lo:hi])}
     *   m <= k: SUBPROOF(m, D[lo:lo+k], b) : MTH(D[lo+k:hi])
     *   m > k:  SUBPROOF(m-k, D[lo+k:hi], false) : MTH(D[lo:lo+k]) */
    size_t lo = 0, hi = count, m = (size_t)old_size, pos = len;
    int whole = 1;
    while (m != hi - lo) {
        size_t k = (size_t)es_merkle_split(hi - lo);
        uint8_t *node = proof + (--pos) * ES_MERKLE_HASH_LEN;
        if (m <= k) {
            es_merkle_subtree_root(&leaves, lo + k, hi - lo - k, scratch, node);
            hi = lo + k;
        } else {
            es_merkle_subtree_root(&leaves, lo, k, scratch, node);
            lo += k;
            m -= k;
            whole = 0;
        }
    }
    if (!whole)
        es_merkle_subtree_root(&leaves, lo, hi - lo, scratch, proof);
    free(scratch);
    return 0;
}
