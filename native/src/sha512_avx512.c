/* Eight SHA-512 computations at once with AVX-512F (FIPS 180-4 6.4), for the
 * challenges k = SHA-512(R || A || M) of a batch: lane j of every vector is
 * message j. Before each block, that block of every message is padded
 * (FIPS 180-4 5.1.2), decoded to big-endian words and transposed into a
 * small array on the stack, so each round is plain vector arithmetic and
 * nothing is allocated; a lane whose message has fewer blocks keeps its
 * state through the extra blocks (masked update). Handed out by the Ed25519
 * dispatcher (ed25519_dispatch.c) only when the CPU has AVX-512F; the
 * portable code in sha512_portable.c is the reference (tests compare the
 * two).
 */
#include "es_sha512.h"
#include "sha512_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

static const uint64_t IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

/* Byte i of the padded message (parts[0] || parts[1] || 0x80 || 0.. || bitlen). */
static uint8_t padded_byte(const uint8_t *p0, size_t n0, const uint8_t *p1, size_t n1,
                           size_t total_blocks, size_t i)
{
    const size_t n = n0 + n1, end = 128 * total_blocks;
    if (i < n0)
        return p0[i];
    if (i < n)
        return p1[i - n0];
    if (i == n)
        return 0x80;
    if (i >= end - 8) { /* low 64 bits of the bit length; the high 64 are 0 here */
        const uint64_t bits = (uint64_t)n << 3;
        return (uint8_t)(bits >> (8 * (end - 1 - i)));
    }
    return 0;
}

/* Lane j of words: the sixteen big-endian words of block b of the padded
 * message p0 || p1 (total_blocks blocks), or zeros past its end. */
static void block_words(uint64_t words[16][8], int j, const uint8_t *p0, size_t n0,
                        const uint8_t *p1, size_t n1, size_t total_blocks, size_t b)
{
    for (int t = 0; t < 16; t++) {
        uint64_t w = 0;
        if (b < total_blocks) {
            const size_t base = 128 * b + 8 * (size_t)t;
            if (base + 8 <= n0) { /* fast path inside the prefix */
                for (int k = 0; k < 8; k++)
                    w = (w << 8) | p0[base + (size_t)k];
            } else if (base >= n0 && base + 8 <= n0 + n1) { /* inside the message */
                for (int k = 0; k < 8; k++)
                    w = (w << 8) | p1[base - n0 + (size_t)k];
            } else {
                for (int k = 0; k < 8; k++)
                    w = (w << 8) | padded_byte(p0, n0, p1, n1, total_blocks, base + (size_t)k);
            }
        }
        words[t][j] = w;
    }
}

#define ROR(x, n) _mm512_ror_epi64((x), (n))

AVX512 int es_sha512_x8_avx512(uint8_t out[8][64], const uint8_t *const prefix[8],
                               const size_t prefix_len[8], const uint8_t *const msg[8],
                               const size_t msg_len[8])
{
    size_t blocks[8], max_blocks = 0;
    for (int j = 0; j < 8; j++) {
        /* message + 0x80 + 16-byte length, rounded up to 128-byte blocks */
        blocks[j] = (prefix_len[j] + msg_len[j] + 17 + 127) / 128;
        if (blocks[j] > max_blocks)
            max_blocks = blocks[j];
    }
    __m512i h[8];
    for (int i = 0; i < 8; i++)
        h[i] = _mm512_set1_epi64((long long)IV[i]);
    for (size_t b = 0; b < max_blocks; b++) {
        __mmask8 active = 0;
        for (int j = 0; j < 8; j++)
            if (b < blocks[j])
                active |= (__mmask8)(1u << j);
        /* words[t][j]: word t of this block of lane j, big-endian decoded
         * (zero past a lane's last block; its state is kept anyway). */
        uint64_t words[16][8];
        for (int j = 0; j < 8; j++)
            block_words(words, j, prefix[j], prefix_len[j], msg[j], msg_len[j], blocks[j], b);
        __m512i w[80];
        for (int t = 0; t < 16; t++)
            w[t] = _mm512_loadu_si512((const void *)words[t]);
        for (int t = 16; t < 80; t++) {
            const __m512i s0 =
                _mm512_xor_si512(_mm512_xor_si512(ROR(w[t - 15], 1), ROR(w[t - 15], 8)),
                                 _mm512_srli_epi64(w[t - 15], 7));
            const __m512i s1 =
                _mm512_xor_si512(_mm512_xor_si512(ROR(w[t - 2], 19), ROR(w[t - 2], 61)),
                                 _mm512_srli_epi64(w[t - 2], 6));
            w[t] =
                _mm512_add_epi64(_mm512_add_epi64(w[t - 16], s0), _mm512_add_epi64(w[t - 7], s1));
        }
        __m512i a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int t = 0; t < 80; t++) {
            const __m512i S1 =
                _mm512_xor_si512(_mm512_xor_si512(ROR(e, 14), ROR(e, 18)), ROR(e, 41));
            const __m512i ch = _mm512_ternarylogic_epi64(e, f, g, 0xCA); /* e ? f : g */
            const __m512i t1 = _mm512_add_epi64(
                _mm512_add_epi64(hh, S1),
                _mm512_add_epi64(
                    ch, _mm512_add_epi64(_mm512_set1_epi64((long long)es_sha512_round_constants[t]),
                                         w[t])));
            const __m512i S0 =
                _mm512_xor_si512(_mm512_xor_si512(ROR(a, 28), ROR(a, 34)), ROR(a, 39));
            const __m512i maj = _mm512_ternarylogic_epi64(a, bb, c, 0xE8); /* majority */
            const __m512i t2 = _mm512_add_epi64(S0, maj);
            hh = g;
            g = f;
            f = e;
            e = _mm512_add_epi64(d, t1);
            d = c;
            c = bb;
            bb = a;
            a = _mm512_add_epi64(t1, t2);
        }
        const __m512i v[8] = {a, bb, c, d, e, f, g, hh};
        for (int i = 0; i < 8; i++) /* lanes past their last block keep their state */
            h[i] = _mm512_mask_add_epi64(h[i], active, h[i], v[i]);
    }
    for (int i = 0; i < 8; i++) {
        uint64_t lane[8];
        _mm512_storeu_si512((void *)lane, h[i]);
        for (int j = 0; j < 8; j++)
            for (int k = 0; k < 8; k++)
                out[j][8 * i + k] = (uint8_t)(lane[j] >> (56 - 8 * k));
    }
    return 0;
}

#endif
