/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) for frame authentication on
 * the device. Portable C99, byte-wise big-endian loads (endian- and
 * alignment-independent), no tables but the constant K.
 *
 * Why this repeats the gateway's portable SHA-256 (native/src/sha256_portable.c):
 * firmware_bridge/c is what a device project copies, and it must build alone
 * with the microcontroller's C99 compiler -- no gateway sources, headers or
 * build scripts. The gateway's SHA-256 is one variant behind a run-time
 * dispatcher (CPU feature detection, pthread_once) and internal headers,
 * compiled as gnu11 into a Python extension; none of that exists on a
 * device. So the device side keeps its own small copy in the fb_ namespace.
 * The gateway checks the tags with Python's hmac and hashlib, and the
 * firmware_bridge tests compare this code with those on random inputs.
 *
 * The HMAC key is a secret on the device: the derived pads are wiped before
 * returning (through a volatile pointer so the stores are not optimised away).
 * Timing does not depend on the key or message contents, only on lengths.
 */
#include "fb_link.h"

/* FIPS 180-4 section 4.2.2: first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)((v >> 16) & 0xFFu);
    p[2] = (uint8_t)((v >> 8) & 0xFFu);
    p[3] = (uint8_t)(v & 0xFFu);
}

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--) {
        *v++ = 0;
    }
}

/* One 64-byte block: FIPS 180-4 section 6.2.2 (message schedule W, then 64 rounds). */
static void compress(uint32_t h[8], const uint8_t block[64])
{
    uint32_t w[64];
    uint32_t a, b, c, d, e, f, g, hh;
    int t;

    for (t = 0; t < 16; t++) {
        w[t] = load_be32(block + 4 * t);
    }
    for (t = 16; t < 64; t++) {
        uint32_t s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    a = h[0];
    b = h[1];
    c = h[2];
    d = h[3];
    e = h[4];
    f = h[5];
    g = h[6];
    hh = h[7];
    for (t = 0; t < 64; t++) {
        uint32_t S1 = ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + S1 + ch + K[t] + w[t];
        uint32_t S0 = ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
    wipe(w, sizeof w);
}

void fb_sha256_init(fb_sha256_ctx *c)
{
    /* FIPS 180-4 section 5.3.3: square roots of the first 8 primes. */
    static const uint32_t iv[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    size_t i;
    if (c == NULL) {
        return;
    }
    for (i = 0; i < 8; i++) {
        c->h[i] = iv[i];
    }
    c->total = 0;
    c->used = 0;
}

void fb_sha256_update(fb_sha256_ctx *c, const uint8_t *data, size_t len)
{
    size_t i;
    if (c == NULL || (data == NULL && len > 0)) {
        return;
    }
    c->total += (uint64_t)len;
    for (i = 0; i < len; i++) {
        c->block[c->used++] = data[i];
        if (c->used == 64) {
            compress(c->h, c->block);
            c->used = 0;
        }
    }
}

void fb_sha256_final(fb_sha256_ctx *c, uint8_t out[32])
{
    uint64_t bits;
    size_t i;
    if (c == NULL || out == NULL) {
        return;
    }
    bits = c->total * 8u;
    /* Padding (section 5.1.1): 0x80, zeros to 56 mod 64, then the bit length. */
    c->block[c->used++] = 0x80;
    if (c->used > 56) {
        while (c->used < 64) {
            c->block[c->used++] = 0;
        }
        compress(c->h, c->block);
        c->used = 0;
    }
    while (c->used < 56) {
        c->block[c->used++] = 0;
    }
    store_be32(c->block + 56, (uint32_t)(bits >> 32));
    store_be32(c->block + 60, (uint32_t)(bits & 0xFFFFFFFFu));
    compress(c->h, c->block);
    for (i = 0; i < 8; i++) {
        store_be32(out + 4 * i, c->h[i]);
    }
    wipe(c, sizeof *c);
}

int fb_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                   uint8_t out[32])
{
    fb_sha256_ctx c;
    uint8_t k0[64];
    uint8_t pad[64];
    uint8_t inner[32];
    size_t i;

    if ((key == NULL && key_len > 0) || (msg == NULL && len > 0) || out == NULL) {
        return -1;
    }
    /* RFC 2104 section 2: keys longer than the block are hashed first. */
    for (i = 0; i < 64; i++) {
        k0[i] = 0;
    }
    if (key_len > 64) {
        fb_sha256_init(&c);
        fb_sha256_update(&c, key, key_len);
        fb_sha256_final(&c, k0);
    } else {
        for (i = 0; i < key_len; i++) {
            k0[i] = key[i];
        }
    }
    for (i = 0; i < 64; i++) {
        pad[i] = (uint8_t)(k0[i] ^ 0x36u);
    }
    fb_sha256_init(&c);
    fb_sha256_update(&c, pad, 64);
    fb_sha256_update(&c, msg, len);
    fb_sha256_final(&c, inner);
    for (i = 0; i < 64; i++) {
        pad[i] = (uint8_t)(k0[i] ^ 0x5Cu);
    }
    fb_sha256_init(&c);
    fb_sha256_update(&c, pad, 64);
    fb_sha256_update(&c, inner, 32);
    fb_sha256_final(&c, out);
    wipe(k0, sizeof k0);
    wipe(pad, sizeof pad);
    wipe(inner, sizeof inner);
    return 0;
}
