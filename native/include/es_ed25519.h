/* Ed25519 signature verification (RFC 8032), single and batch.
 *
 * One rule set for every entry point (docs/verification-policy.md):
 *   - A (public key) and R must be canonical encodings of curve points;
 *   - A must not be of small order (8-torsion);
 *   - S must be canonical (S < L);
 *   - accept iff [8][S]B = [8]R + [8][k]A with k = SHA-512(R || A || M) mod L.
 * Only public data enters this code; it runs in variable time ("vartime").
 */
#ifndef ES_ED25519_H
#define ES_ED25519_H

#include <stddef.h>
#include <stdint.h>

/* ES_CDEF_BEGIN */
/* Verifies one signature. A key that is not 32 bytes or a signature that is
 * not 64 bytes is invalid. Returns 0 if valid, -1 if invalid (or if a pointer
 * is NULL while its length is not). */
int es_ed25519_verify_vartime(const uint8_t *public_key, size_t public_key_len, const uint8_t *msg,
                              size_t msg_len, const uint8_t *signature, size_t signature_len);

/* Verifies n signatures together and writes one verdict per item
 * (verdicts[i] = 1 valid, 0 invalid; verdicts holds n bytes).
 *   keys:       keys_len bytes: 32 (one key for every item) or 32 * n
 *   signatures: signatures_len = 64 * n bytes
 *   messages:   messages_len bytes; item i is messages[offsets[i]..offsets[i+1])
 *   offsets:    n + 1 values, offsets[0] <= ... <= offsets[n] <= messages_len
 * Every length is checked before any byte is read. Items sharing a public key
 * are merged into one term of the multi-scalar multiplication. Random 128-bit
 * coefficients come from the OS CSPRNG (getrandom(2) on Linux). A failed batch
 * is bisected so the verdicts are exact per item.
 * Returns 0 when verdicts are written, -1 on malformed arguments (a length
 * that does not match n, offsets decreasing or past messages_len) or when
 * memory / the CSPRNG is unavailable. */
int es_ed25519_verify_batch_vartime(const uint8_t *keys, size_t keys_len, const uint8_t *signatures,
                                    size_t signatures_len, const uint8_t *messages,
                                    size_t messages_len, const size_t *offsets, size_t n,
                                    uint8_t *verdicts);
/* Checks offsets as es_ed25519_verify_batch_vartime does. Returns 0 if valid;
 * otherwise -1 with *bad_index (if not NULL) set to the first offending
 * position i: offsets[i] > messages_len or offsets[i] < offsets[i - 1]. */
int es_ed25519_batch_offsets_check(const size_t *offsets, size_t n, size_t messages_len,
                                   size_t *bad_index);

/* A public key decoded and checked once (canonical, on the curve, not of
 * small order) for repeated single verifications: the key's 32 bytes then
 * the 32-byte encoding of its x coordinate, es_ed25519_prepared_size() = 64
 * bytes in every build. Verification checks, with a few multiplications
 * instead of decoding's square root, that x belongs to the key, so a buffer
 * that this function did not write is refused, never trusted.
 * Returns 0, or -1 if the key is not acceptable (then nothing verifies) or
 * prepared_len is not es_ed25519_prepared_size(). */
size_t es_ed25519_prepared_size(void);
int es_ed25519_prepare_key_vartime(const uint8_t *public_key, size_t public_key_len,
                                   uint8_t *prepared, size_t prepared_len);
/* As es_ed25519_verify_vartime with a prepared key: 0 valid, -1 invalid,
 * -2 if prepared is not a prepared key (wrong length, or not a key and its
 * own x coordinate). */
int es_ed25519_verify_prepared_vartime(const uint8_t *prepared, size_t prepared_len,
                                       const uint8_t *msg, size_t msg_len, const uint8_t *signature,
                                       size_t signature_len);

/* Name of the code batches use in this process: "avx512ifma" (decoding,
 * Pippenger and the challenge hashes vectorised), "avx512f" (the hashes
 * only) or "portable". Chosen once from the CPU; EDGESEAL_ED25519 set to one
 * of these names when the library is loaded forces a variant the CPU runs. */
const char *es_ed25519_implementation(void);
/* ES_CDEF_END */

#endif
