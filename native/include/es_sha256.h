/*
 * SHA-256 (FIPS 180-4) with one implementation per instruction set, chosen once at
 * run time.
 *
 * Variants live in one file each (sha256_portable.c, sha256_x86_shani.c,
 * sha256_arm_ce.c); sha256_dispatch.c reads the CPU features once and every other
 * caller goes through the functions below. The environment variable
 * EDGESEAL_SHA256 (read once, at first use) can force a variant by name, e.g.
 * EDGESEAL_SHA256=portable to rule out the ISA-specific code, and
 * the *_variant entry points run one named variant so tests can cover each of them.
 *
 * Everything here handles public data only (hashes of readings, Merkle nodes); no
 * care is taken against timing side channels.
 *
 * Return codes: 0 ok, -1 error (NULL pointer with nonzero length, offsets out of
 * order or past the buffer, variant not available on this CPU).
 */
#ifndef ES_SHA256_H
#define ES_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define ES_SHA256_DIGEST_LEN 32
#define ES_SHA256_BLOCK_LEN 64

/* ES_CDEF_BEGIN */
typedef enum {
    ES_SHA256_PORTABLE = 0,
    ES_SHA256_X86_SHANI = 1,
    ES_SHA256_ARM_CE = 2,
    ES_SHA256_VARIANT_COUNT = 3
} es_sha256_variant;

/* CPU feature bits reported by es_cpu_features(). */
enum {
    ES_CPU_X86_SSSE3 = 1,
    ES_CPU_X86_SSE41 = 2,
    ES_CPU_X86_SHA = 4,
    ES_CPU_ARM_ASIMD = 256,
    ES_CPU_ARM_SHA2 = 512
};

/* One message: out = SHA-256(data[0..len)). */
int es_sha256(const uint8_t *data, size_t len, uint8_t *out);

/*
 * Many independent messages in one call: message i is buf[offsets[i] .. offsets[i+1])
 * (count + 1 offsets, non-decreasing, the last <= buf_len); digest i is written to
 * out[32*i .. 32*i+32). The active variant interleaves messages to keep the
 * hashing units busy.
 */
int es_sha256_many(const uint8_t *buf, size_t buf_len, const uint64_t *offsets, size_t count,
                   uint8_t *out);

/*
 * Many messages of one length with an optional common prefix of at most 64 bytes:
 * message i is prefix || buf[i*msg_len .. (i+1)*msg_len). This is how Merkle leaves
 * (prefix 0x00) and nodes (prefix 0x01, two adjacent 32-byte hashes) are hashed
 * without copying them into a new buffer first.
 */
int es_sha256_many_fixed(const uint8_t *prefix, size_t prefix_len, const uint8_t *buf,
                         size_t msg_len, size_t count, uint8_t *out);

/* The same functions run on one named variant (for tests and benchmarks). */
int es_sha256_with_variant(es_sha256_variant variant, const uint8_t *data, size_t len,
                           uint8_t *out);
int es_sha256_many_with_variant(es_sha256_variant variant, const uint8_t *buf, size_t buf_len,
                                const uint64_t *offsets, size_t count, uint8_t *out);

/*
 * Checks an offsets array as es_sha256_many does. Returns 0 if valid; otherwise -1
 * with *bad_index set to the first offending position (so callers can say which).
 */
int es_offsets_check(const uint64_t *offsets, size_t count, size_t buf_len, size_t *bad_index);

/* 1 if this CPU (and this build) can run the variant, else 0. */
int es_sha256_variant_available(es_sha256_variant variant);
/* The variant the dispatcher uses (after EDGESEAL_SHA256 is applied). */
es_sha256_variant es_sha256_active_variant(void);
/* Short lowercase name ("portable", "x86_shani", "arm_ce"), or NULL if unknown. */
const char *es_sha256_variant_name(es_sha256_variant variant);
/* ES_CPU_* bits found on this CPU. */
uint32_t es_cpu_features(void);
/*
 * 1 if the EDGESEAL_SHA256 environment variable chose the active variant, 0 if the
 * CPU features did (variable unset, "auto", or naming a variant this CPU lacks).
 */
int es_sha256_forced(void);
/* ES_CDEF_END */

#endif /* ES_SHA256_H */
