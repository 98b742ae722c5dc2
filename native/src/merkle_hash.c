/*
 * RFC 9162 hashing: leaf and node hashes and the tree head MTH, bottom up.
 *
 * MTH is computed level by level rather than by the RFC's recursion: all leaf
 * hashes in one multi-message call, then all pairs of each level in one call, and
 * an odd last node is carried up unchanged. This gives the RFC's tree because the
 * RFC's split point k (largest power of two < n) always falls on a pair boundary
 * of every level below the subtree of size k: the left part D[0:k] is a perfect
 * tree, so pairing level by level builds exactly its nodes, and the right part
 * D[k:n] is again split by the same rule; by induction on n the last node of a
 * level has no partner exactly when the RFC's recursion would keep it alone until
 * a higher level. tests/native/test_merkle.py checks this against the recursive
 * definition for every size up to 300 and random sizes up to 100k.
 */
#include <stdlib.h>
#include <string.h>

#include "sha256_impl.h"
#include "merkle_impl.h"

static const uint8_t leaf_prefix[1] = {0x00};
static const uint8_t node_prefix[1] = {0x01};

int es_merkle_leaf_hash(const uint8_t *leaf, size_t len, uint8_t *out) {
    if (out == NULL || (leaf == NULL && len > 0)) return -1;
    es_sha256_drive_one(es_sha256_active_impl(), leaf_prefix, 1, leaf, len, out);
    return 0;
}

void es_merkle_node_hash_pair(const uint8_t pair[64], uint8_t *out) {
    es_sha256_drive_one(es_sha256_active_impl(), node_prefix, 1, pair, 64, out);
}

int es_merkle_node_hash(const uint8_t *left, const uint8_t *right, uint8_t *out) {
    if (left == NULL || right == NULL || out == NULL) return -1;
    uint8_t pair[64];
    memcpy(pair, left, 32);
    memcpy(pair + 32, right, 32);
    es_merkle_node_hash_pair(pair, out);
    return 0;
}

size_t es_merkle_scratch_len(size_t count) {
    /* Level 0 (count hashes) and level 1 (ceil(count / 2)) ping-pong; every
     * higher level fits in whichever of the two it is written to. */
    size_t hashes = count + count / 2 + 1;
    if (hashes < count || hashes > SIZE_MAX / ES_MERKLE_HASH_LEN) return 0;
    return hashes * ES_MERKLE_HASH_LEN;
}

void es_merkle_subtree_root(const uint8_t *buf, const uint64_t *offsets, size_t count,
                            uint8_t *scratch, uint8_t *out) {
    const es_sha256_impl *impl = es_sha256_active_impl();
    if (count == 0) {
        es_sha256_drive_one(impl, NULL, 0, NULL, 0, out);
        return;
    }
    uint8_t *level = scratch;
    uint8_t *next = scratch + count * ES_MERKLE_HASH_LEN;
    es_sha256_drive_many(impl, leaf_prefix, 1, buf, offsets, 0, count, level);
    size_t width = count;
    while (width > 1) {
        size_t pairs = width / 2;
        /* Pair i is the adjacent hashes 2i, 2i+1: one 64-byte message each. */
        es_sha256_drive_many(impl, node_prefix, 1, level, NULL, 2 * ES_MERKLE_HASH_LEN, pairs,
                             next);
        if (width % 2 == 1)
            memcpy(next + pairs * ES_MERKLE_HASH_LEN, level + (width - 1) * ES_MERKLE_HASH_LEN,
                   ES_MERKLE_HASH_LEN);
        width = pairs + width % 2;
        uint8_t *t = level;
        level = next;
        next = t;
    }
    memcpy(out, level, ES_MERKLE_HASH_LEN);
}

int es_merkle_root(const uint8_t *buf, size_t buf_len, const uint64_t *offsets, size_t count,
                   uint8_t *out) {
    if (out == NULL || offsets == NULL || (buf == NULL && buf_len > 0)) return -1;
    if (es_offsets_check(offsets, count, buf_len, NULL) != 0) return -1;
    if (count == 0) {
        es_merkle_subtree_root(buf, offsets, 0, NULL, out);
        return 0;
    }
    size_t need = es_merkle_scratch_len(count);
    uint8_t *scratch = need == 0 ? NULL : malloc(need);
    if (scratch == NULL) return -1;
    es_merkle_subtree_root(buf, offsets, count, scratch, out);
    free(scratch);
    return 0;
}
