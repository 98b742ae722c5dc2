/*
 * Merkle trees exactly as RFC 9162 (Certificate Transparency 2.0) section 2.1.
 *
 *   leaf hash  SHA-256(0x00 || leaf)
 *   node hash  SHA-256(0x01 || left || right)
 *   MTH({})    SHA-256("")
 *   MTH(D[n])  for n > 1 splits at k, the largest power of two smaller than n:
 *              node(MTH(D[0:k]), MTH(D[k:n])); the last node is never duplicated.
 *
 * Leaves come packed: leaf i is buf[offsets[i] .. offsets[i+1]) (count + 1 offsets,
 * non-decreasing, the last <= buf_len), so a caller hands over one buffer instead
 * of one object per leaf. Hashes are 32 bytes; a proof is proof_len hashes back to
 * back, in the order of the RFC (inclusion: leaf to root; consistency: as PROOF).
 *
 * Return codes: 0 ok, -1 error (bad pointers or offsets, index or size out of
 * range, proof buffer too small, out of memory). Verification results go to
 * *valid (1 valid, 0 not) so that a failed proof is never confused with misuse.
 * All of it handles public data and runs in variable time.
 */
#ifndef ES_MERKLE_H
#define ES_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define ES_MERKLE_HASH_LEN 32

/* ES_CDEF_BEGIN */
int es_merkle_leaf_hash(const uint8_t *leaf, size_t len, uint8_t *out);
int es_merkle_node_hash(const uint8_t *left, const uint8_t *right, uint8_t *out);

/* MTH over the packed leaves (count may be 0: the empty tree). */
int es_merkle_root(const uint8_t *buf, size_t buf_len, const uint64_t *offsets, size_t count,
                   uint8_t *out);

/*
 * The same with leaf i = buf[offsets[i] .. offsets[i+1]) || suffixes[i*suffix_len ..
 * (i+1)*suffix_len); suffixes_len must be count * suffix_len. A sealed batch keeps
 * its records and their 64-byte signatures in two contiguous runs: this hashes the
 * record || signature leaves straight from them.
 */
int es_merkle_root_suffixed(const uint8_t *buf, size_t buf_len, const uint64_t *offsets,
                            size_t count, const uint8_t *suffixes, size_t suffixes_len,
                            size_t suffix_len, uint8_t *out);

/* Number of hashes in PATH(index, D[tree_size]); 0 if index >= tree_size. */
size_t es_merkle_inclusion_proof_len(uint64_t index, uint64_t tree_size);
/* PATH(index, D[count]) into proof (room for proof_cap hashes); *proof_len = hashes. */
int es_merkle_inclusion_proof(const uint8_t *buf, size_t buf_len, const uint64_t *offsets,
                              size_t count, uint64_t index, uint8_t *proof, size_t proof_cap,
                              size_t *proof_len);

/* PATH(index, ...) over leaves with suffixes, as es_merkle_root_suffixed. */
int es_merkle_inclusion_proof_suffixed(const uint8_t *buf, size_t buf_len, const uint64_t *offsets,
                                       size_t count, const uint8_t *suffixes, size_t suffixes_len,
                                       size_t suffix_len, uint64_t index, uint8_t *proof,
                                       size_t proof_cap, size_t *proof_len);

/* Number of hashes in PROOF(old_size, D[new_size]); 0 when old_size is 0 or new_size. */
size_t es_merkle_consistency_proof_len(uint64_t old_size, uint64_t new_size);
/* PROOF(old_size, D[count]); old_size <= count. */
int es_merkle_consistency_proof(const uint8_t *buf, size_t buf_len, const uint64_t *offsets,
                                size_t count, uint64_t old_size, uint8_t *proof, size_t proof_cap,
                                size_t *proof_len);

/* RFC 9162 2.1.3.2 for leaf data (hashed here as a leaf). */
int es_merkle_verify_inclusion(const uint8_t *leaf, size_t leaf_len, uint64_t index,
                               uint64_t tree_size, const uint8_t *proof, size_t proof_len,
                               const uint8_t *root, int *valid);

/*
 * Many inclusion checks in one call. Item i: leaf i of the packed leaves, indices[i],
 * tree_sizes[i], the proof hashes proofs[32*proof_offsets[i] .. 32*proof_offsets[i+1])
 * (proof_offsets count hashes, count + 1 of them, the last <= proof_hashes) and the
 * root roots[32*i .. 32*i+32). results[i]: 1 valid, 0 not valid, 2 index >= tree size.
 */
int es_merkle_verify_inclusion_many(const uint8_t *leaf_buf, size_t leaf_buf_len,
                                    const uint64_t *leaf_offsets, size_t count,
                                    const uint64_t *indices, const uint64_t *tree_sizes,
                                    const uint8_t *proofs, size_t proof_hashes,
                                    const uint64_t *proof_offsets, const uint8_t *roots,
                                    uint8_t *results);

/*
 * RFC 9162 2.1.4.2. Edge cases: old_size == new_size is valid iff the proof is
 * empty and the roots are equal; old_size == 0 is valid iff the proof is empty and
 * old_root is MTH({}) = SHA-256(""). old_size > new_size is an error (-1).
 */
int es_merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const uint8_t *old_root,
                                 const uint8_t *new_root, const uint8_t *proof, size_t proof_len,
                                 int *valid);
/* ES_CDEF_END */

#endif /* ES_MERKLE_H */
