/*
 * SHA-256 compression with the ARMv8 cryptography extensions (FEAT_SHA256).
 *
 * Compiled for every AArch64 build without -march=...+crypto: the functions opt in
 * with a target attribute and the dispatcher calls them only when getauxval
 * reports HWCAP_SHA2 (Arm ARM, "SHA256H, SHA256H2, SHA256SU0, SHA256SU1").
 *
 * sha256h/sha256h2 run four rounds on the state held as ABCD and EFGH (natural
 * order, A in lane 0): h yields the new ABCD, h2 the new EFGH and needs the ABCD
 * from before the four rounds. sha256su0/sha256su1 compute four words of the
 * message schedule: su0 adds sigma0(W[t-15]) to W[t-16], su1 adds W[t-7] and
 * sigma1(W[t-2]). blocks2 interleaves two streams to hide the rounds' latency.
 */
#include "sha256_impl.h"

#if defined(__aarch64__)

#include <arm_neon.h>

#if defined(__clang__)
#define ES_TARGET_ARM_CE __attribute__((target("crypto")))
#else
#define ES_TARGET_ARM_CE __attribute__((target("+crypto")))
#endif

static inline ES_TARGET_ARM_CE uint32x4_t load_words(const uint8_t *p) {
    return vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p)));
}

/* W[4g .. 4g+3] for g >= 4 from W[4g-16..] (w_16) through W[4g-4..] (w_4). */
static inline ES_TARGET_ARM_CE uint32x4_t next_words(uint32x4_t w_16, uint32x4_t w_12,
                                                     uint32x4_t w_8, uint32x4_t w_4) {
    return vsha256su1q_u32(vsha256su0q_u32(w_16, w_12), w_8, w_4);
}

static ES_TARGET_ARM_CE void arm_ce_blocks(uint32_t state[8], const uint8_t *data,
                                           size_t nblocks) {
    uint32x4_t abcd = vld1q_u32(state), efgh = vld1q_u32(state + 4);
    for (; nblocks > 0; nblocks--, data += ES_SHA256_BLOCK_LEN) {
        const uint32x4_t abcd0 = abcd, efgh0 = efgh;
        uint32x4_t w[4];
        for (unsigned i = 0; i < 4; i++) w[i] = load_words(data + 16 * i);
#pragma GCC unroll 16
        for (unsigned g = 0; g < 16; g++) {
            if (g >= 4)
                w[g % 4] = next_words(w[g % 4], w[(g + 1) % 4], w[(g + 2) % 4], w[(g + 3) % 4]);
            uint32x4_t wk = vaddq_u32(w[g % 4], vld1q_u32(es_sha256_k + 4 * g));
            uint32x4_t abcd_before = abcd;
            abcd = vsha256hq_u32(abcd, efgh, wk);
            efgh = vsha256h2q_u32(efgh, abcd_before, wk);
        }
        abcd = vaddq_u32(abcd, abcd0);
        efgh = vaddq_u32(efgh, efgh0);
    }
    vst1q_u32(state, abcd);
    vst1q_u32(state + 4, efgh);
}

static ES_TARGET_ARM_CE void arm_ce_blocks2(uint32_t state_a[8], const uint8_t *data_a,
                                            uint32_t state_b[8], const uint8_t *data_b,
                                            size_t nblocks) {
    uint32x4_t abcd_a = vld1q_u32(state_a), efgh_a = vld1q_u32(state_a + 4);
    uint32x4_t abcd_b = vld1q_u32(state_b), efgh_b = vld1q_u32(state_b + 4);
    for (; nblocks > 0; nblocks--, data_a += ES_SHA256_BLOCK_LEN, data_b += ES_SHA256_BLOCK_LEN) {
        const uint32x4_t abcd_a0 = abcd_a, efgh_a0 = efgh_a, abcd_b0 = abcd_b, efgh_b0 = efgh_b;
        uint32x4_t wa[4], wb[4];
        for (unsigned i = 0; i < 4; i++) {
            wa[i] = load_words(data_a + 16 * i);
            wb[i] = load_words(data_b + 16 * i);
        }
#pragma GCC unroll 16
        for (unsigned g = 0; g < 16; g++) {
            if (g >= 4) {
                wa[g % 4] =
                    next_words(wa[g % 4], wa[(g + 1) % 4], wa[(g + 2) % 4], wa[(g + 3) % 4]);
                wb[g % 4] =
                    next_words(wb[g % 4], wb[(g + 1) % 4], wb[(g + 2) % 4], wb[(g + 3) % 4]);
            }
            const uint32x4_t k = vld1q_u32(es_sha256_k + 4 * g);
            uint32x4_t wk_a = vaddq_u32(wa[g % 4], k), wk_b = vaddq_u32(wb[g % 4], k);
            uint32x4_t before_a = abcd_a, before_b = abcd_b;
            abcd_a = vsha256hq_u32(abcd_a, efgh_a, wk_a);
            abcd_b = vsha256hq_u32(abcd_b, efgh_b, wk_b);
            efgh_a = vsha256h2q_u32(efgh_a, before_a, wk_a);
            efgh_b = vsha256h2q_u32(efgh_b, before_b, wk_b);
        }
        abcd_a = vaddq_u32(abcd_a, abcd_a0);
        efgh_a = vaddq_u32(efgh_a, efgh_a0);
        abcd_b = vaddq_u32(abcd_b, abcd_b0);
        efgh_b = vaddq_u32(efgh_b, efgh_b0);
    }
    vst1q_u32(state_a, abcd_a);
    vst1q_u32(state_a + 4, efgh_a);
    vst1q_u32(state_b, abcd_b);
    vst1q_u32(state_b + 4, efgh_b);
}

const es_sha256_impl es_sha256_impl_arm_ce = {arm_ce_blocks, arm_ce_blocks2};

#else

/* Not an AArch64 build: nothing to compile (ISO C wants at least one declaration). */
typedef int es_sha256_arm_ce_unused;

#endif
