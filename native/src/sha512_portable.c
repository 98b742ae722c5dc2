/* SHA-512, portable implementation of FIPS 180-4 section 6.4.
 *
 * Plain C, no tables beyond the round constants of FIPS 180-4 4.2.3, no
 * global mutable state. Messages are processed in 128-byte blocks; the
 * padding appends 0x80, zeros and the 128-bit big-endian bit length
 * (FIPS 180-4 5.1.2).
 */
#include <string.h>

#include "es_sha512.h"
#include "sha512_impl.h"

/* FIPS 180-4 4.2.3: first 64 bits of the fractional parts of the cube roots
 * of the first eighty primes. */
const uint64_t es_sha512_round_constants[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
    0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
    0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
    0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
    0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
    0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
    0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
    0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
    0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
    0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
    0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
    0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
    0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
    0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
    0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
    0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
    0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};

static inline uint64_t rotr(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

static inline uint64_t load_be64(const uint8_t *p)
{
    return ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) |
           ((uint64_t)p[3] << 32) | ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) |
           ((uint64_t)p[6] << 8) | (uint64_t)p[7];
}

static inline void store_be64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)x;
        x >>= 8;
    }
}

#define BSIG0(x) (rotr((x), 28) ^ rotr((x), 34) ^ rotr((x), 39))
#define BSIG1(x) (rotr((x), 14) ^ rotr((x), 18) ^ rotr((x), 41))
#define SSIG0(x) (rotr((x), 1) ^ rotr((x), 8) ^ ((x) >> 7))
#define SSIG1(x) (rotr((x), 19) ^ rotr((x), 61) ^ ((x) >> 6))
/* Ch and Maj of FIPS 180-4 4.1.3 in forms with one operation fewer. */
#define CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))

/* One round of FIPS 180-4 6.4.2 step 3. Instead of shifting the eight
 * working variables every round, the callers rotate the argument names, so
 * each round only writes d and h. */
#define ROUND(a, b, c, d, e, f, g, h, t)                                                        \
    do {                                                                                        \
        const uint64_t t1 = (h) + BSIG1(e) + CH(e, f, g) + es_sha512_round_constants[t] + w[t]; \
        (d) += t1;                                                                              \
        (h) = t1 + BSIG0(a) + MAJ(a, b, c);                                                     \
    } while (0)

/* FIPS 180-4 6.4.2, applied to nblocks consecutive 128-byte blocks. */
static void compress(uint64_t h[8], const uint8_t *blocks, size_t nblocks)
{
    uint64_t w[80];
    while (nblocks--) {
        for (int t = 0; t < 16; t++)
            w[t] = load_be64(blocks + 8 * t);
        for (int t = 16; t < 80; t++)
            w[t] = w[t - 16] + SSIG0(w[t - 15]) + w[t - 7] + SSIG1(w[t - 2]);
        uint64_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int t = 0; t < 80; t += 8) {
            ROUND(a, b, c, d, e, f, g, hh, t);
            ROUND(hh, a, b, c, d, e, f, g, t + 1);
            ROUND(g, hh, a, b, c, d, e, f, t + 2);
            ROUND(f, g, hh, a, b, c, d, e, t + 3);
            ROUND(e, f, g, hh, a, b, c, d, t + 4);
            ROUND(d, e, f, g, hh, a, b, c, t + 5);
            ROUND(c, d, e, f, g, hh, a, b, t + 6);
            ROUND(b, c, d, e, f, g, hh, a, t + 7);
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += hh;
        blocks += 128;
    }
}

void es_sha512_init(es_sha512_ctx *ctx)
{
    /* FIPS 180-4 5.3.5 initial hash value. */
    static const uint64_t iv[8] = {
        0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
        0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
    };
    memcpy(ctx->h, iv, sizeof iv);
    ctx->buf_len = 0;
    ctx->total_len = 0;
}

void es_sha512_update(es_sha512_ctx *ctx, const uint8_t *data, size_t len)
{
    ctx->total_len += (uint64_t)len;
    if (ctx->buf_len) {
        size_t take = 128 - ctx->buf_len;
        if (take > len)
            take = len;
        memcpy(ctx->buf + ctx->buf_len, data, take);
        ctx->buf_len += take;
        data += take;
        len -= take;
        if (ctx->buf_len < 128)
            return;
        compress(ctx->h, ctx->buf, 1);
        ctx->buf_len = 0;
    }
    if (len >= 128) {
        size_t whole = len / 128;
        compress(ctx->h, data, whole);
        data += whole * 128;
        len -= whole * 128;
    }
    if (len) {
        memcpy(ctx->buf, data, len);
        ctx->buf_len = len;
    }
}

void es_sha512_final(es_sha512_ctx *ctx, uint8_t out[64])
{
    /* The length field is 128 bits of *bits*: high word = bytes >> 61. */
    uint64_t bits_hi = ctx->total_len >> 61;
    uint64_t bits_lo = ctx->total_len << 3;
    size_t n = ctx->buf_len;
    ctx->buf[n++] = 0x80;
    if (n > 112) {
        memset(ctx->buf + n, 0, 128 - n);
        compress(ctx->h, ctx->buf, 1);
        n = 0;
    }
    memset(ctx->buf + n, 0, 112 - n);
    store_be64(ctx->buf + 112, bits_hi);
    store_be64(ctx->buf + 120, bits_lo);
    compress(ctx->h, ctx->buf, 1);
    for (int i = 0; i < 8; i++)
        store_be64(out + 8 * i, ctx->h[i]);
}

int es_sha512(const uint8_t *data, size_t len, uint8_t *out)
{
    es_sha512_ctx ctx;
    if (out == NULL || (data == NULL && len != 0))
        return -1;
    es_sha512_init(&ctx);
    es_sha512_update(&ctx, data, len);
    es_sha512_final(&ctx, out);
    return 0;
}
