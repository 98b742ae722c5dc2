/*
 * RFC 9162 proof verification: inclusion (2.1.3.2) and consistency (2.1.4.2),
 * step for step as the RFC words them. fn/sn are the positions of the node being
 * rebuilt and of the tree's last node at the current level.
 */
#include <string.h>

#include "merkle_impl.h"
#include "sha256_impl.h"

/* out = node(left, right) where either input may alias out. */
static void node_into(const uint8_t *left, const uint8_t *right, uint8_t *out)
{
    uint8_t pair[64];
    memcpy(pair, left, 32);
    memcpy(pair + 32, right, 32);
    es_merkle_node_hash_pair(pair, out);
}

/* 2.1.3.2 steps 2-4, starting from the leaf hash; returns 1 if the root matches. */
static int inclusion_holds(const uint8_t leaf_hash[32], uint64_t index, uint64_t tree_size,
                           const uint8_t *proof, size_t proof_len, const uint8_t *root)
{
    if (index >= tree_size)
        return 0;
    uint64_t fn = index, sn = tree_size - 1;
    uint8_t r[32];
    memcpy(r, leaf_hash, 32);
    for (size_t i = 0; i < proof_len; i++) {
        const uint8_t *p = proof + i * ES_MERKLE_HASH_LEN;
        if (sn == 0)
            return 0;
        if ((fn & 1) || fn == sn) {
            node_into(p, r, r);
            if (!(fn & 1)) {
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            node_into(r, p, r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, 32) == 0;
}

int es_merkle_verify_inclusion(const uint8_t *leaf, size_t leaf_len, uint64_t index,
                               uint64_t tree_size, const uint8_t *proof, size_t proof_len,
                               const uint8_t *root, int *valid)
{
    if (valid == NULL || root == NULL || (leaf == NULL && leaf_len > 0))
        return -1;
    if (proof == NULL && proof_len > 0)
        return -1;
    uint8_t leaf_hash[32];
    es_merkle_leaf_hash(leaf, leaf_len, leaf_hash);
    *valid = inclusion_holds(leaf_hash, index, tree_size, proof, proof_len, root);
    return 0;
}

int es_merkle_verify_inclusion_many(const uint8_t *leaf_buf, size_t leaf_buf_len,
                                    const uint64_t *leaf_offsets, size_t count,
                                    const uint64_t *indices, const uint64_t *tree_sizes,
                                    const uint8_t *proofs, size_t proof_hashes,
                                    const uint64_t *proof_offsets, const uint8_t *roots,
                                    uint8_t *results)
{
    if (count == 0)
        return 0;
    if (leaf_offsets == NULL || proof_offsets == NULL || indices == NULL || tree_sizes == NULL ||
        roots == NULL || results == NULL)
        return -1;
    if ((leaf_buf == NULL && leaf_buf_len > 0) || (proofs == NULL && proof_hashes > 0))
        return -1;
    if (es_offsets_check(leaf_offsets, count, leaf_buf_len, NULL) != 0)
        return -1;
    if (es_offsets_check(proof_offsets, count, proof_hashes, NULL) != 0)
        return -1;
    /* Leaf hashes in chunks through the multi-message path, then each path walk. */
    enum { CHUNK = 256 };
    uint8_t leaf_hashes[CHUNK * ES_MERKLE_HASH_LEN];
    static const uint8_t leaf_prefix[1] = {0x00};
    const es_sha256_impl *impl = es_sha256_active_impl();
    for (size_t start = 0; start < count; start += CHUNK) {
        size_t n = count - start < CHUNK ? count - start : CHUNK;
        const es_sha256_msgs leaves = {leaf_prefix, 1, leaf_buf, leaf_offsets + start, 0, NULL, 0};
        es_sha256_drive_many(impl, &leaves, n, leaf_hashes);
        for (size_t j = 0; j < n; j++) {
            size_t i = start + j;
            if (indices[i] >= tree_sizes[i]) {
                results[i] = 2;
                continue;
            }
            const uint8_t *proof =
                proofs == NULL ? NULL : proofs + proof_offsets[i] * ES_MERKLE_HASH_LEN;
            size_t proof_len = (size_t)(proof_offsets[i + 1] - proof_offsets[i]);
            results[i] = (uint8_t)inclusion_holds(leaf_hashes + j * ES_MERKLE_HASH_LEN, indices[i],
                                                  tree_sizes[i], proof, proof_len,
                                                  roots + i * ES_MERKLE_HASH_LEN);
        }
    }
    return 0;
}

int es_merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const uint8_t *old_root,
                                 const uint8_t *new_root, const uint8_t *proof, size_t proof_len,
                                 int *valid)
{
    if (valid == NULL || old_root == NULL || new_root == NULL)
        return -1;
    if ((proof == NULL && proof_len > 0) || old_size > new_size)
        return -1;
    *valid = 0;
    if (old_size == new_size) {
        *valid = proof_len == 0 && memcmp(old_root, new_root, 32) == 0;
        return 0;
    }
    if (old_size == 0) {
        uint8_t empty[32];
        es_sha256_drive_one(es_sha256_active_impl(), NULL, 0, NULL, 0, empty);
        *valid = proof_len == 0 && memcmp(old_root, empty, 32) == 0;
        return 0;
    }
    /* Step 1: an empty path cannot prove anything for 0 < old_size < new_size. */
    if (proof_len == 0)
        return 0;
    /* Step 2: if old_size is a power of two, old_root itself starts the path. */
    const uint8_t *first;
    size_t i = 0;
    if ((old_size & (old_size - 1)) == 0) {
        first = old_root;
    } else {
        first = proof;
        i = 1;
    }
    /* Steps 3-4. */
    uint64_t fn = old_size - 1, sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    /* Step 5. */
    uint8_t fr[32], sr[32];
    memcpy(fr, first, 32);
    memcpy(sr, first, 32);
    /* Step 6. */
    for (; i < proof_len; i++) {
        const uint8_t *c = proof + i * ES_MERKLE_HASH_LEN;
        if (sn == 0)
            return 0;
        if ((fn & 1) || fn == sn) {
            node_into(c, fr, fr);
            node_into(c, sr, sr);
            if (!(fn & 1)) {
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            node_into(sr, c, sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    /* Step 7. */
    *valid = memcmp(fr, old_root, 32) == 0 && memcmp(sr, new_root, 32) == 0 && sn == 0;
    return 0;
}
