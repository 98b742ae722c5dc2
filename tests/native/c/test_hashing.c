/*
 * Plain C test of native/src (SHA-256 variants, multi-message hashing, RFC 9162
 * trees and proofs), built by tests/native/test_c_hashing.py with AddressSanitizer
 * and UBSan so that any out-of-bounds access or undefined behaviour fails the
 * suite. Inputs are copied into heap blocks of exactly their length, so reading
 * one byte past a message is caught.
 *
 * Exit status 0 when every check passes; each failure prints one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es_merkle.h"
#include "es_sha256.h"

static int failures = 0;

#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (!(cond)) {                                           \
            failures++;                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fprintf(stderr, "\n");                               \
        }                                                        \
    } while (0)

/* Deterministic bytes (xorshift64), so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint8_t rng_byte(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint8_t)(rng_state >> 32);
}
static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = rng_byte();
}

/* An exact-size heap copy (malloc(0) may return NULL; ask for 1 then). */
static uint8_t *exact_copy(const uint8_t *src, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    if (n)
        memcpy(p, src, n);
    return p;
}

static void hex_to(const char *hex, uint8_t *out)
{
    for (size_t i = 0; hex[2 * i]; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static const es_sha256_variant ALL_VARIANTS[] = {ES_SHA256_PORTABLE, ES_SHA256_X86_SHANI,
                                                 ES_SHA256_ARM_CE};
#define N_VARIANTS (sizeof ALL_VARIANTS / sizeof ALL_VARIANTS[0])

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA256_2.pdf") and the empty string. */
static void test_known_answers(void)
{
    static const struct {
        const char *msg;
        const char *digest;
    } kat[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t v = 0; v < N_VARIANTS; v++) {
        if (!es_sha256_variant_available(ALL_VARIANTS[v]))
            continue;
        for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
            uint8_t want[32], got[32];
            hex_to(kat[i].digest, want);
            size_t len = strlen(kat[i].msg);
            uint8_t *msg = exact_copy((const uint8_t *)kat[i].msg, len);
            CHECK(es_sha256_with_variant(ALL_VARIANTS[v], msg, len, got) == 0, "kat rc");
            CHECK(memcmp(got, want, 32) == 0, "kat %zu on %s", i,
                  es_sha256_variant_name(ALL_VARIANTS[v]));
            free(msg);
        }
        /* One million 'a' (FIPS 180-4 example 3). */
        size_t len = 1000000;
        uint8_t *a = malloc(len);
        memset(a, 'a', len);
        uint8_t want[32], got[32];
        hex_to("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", want);
        CHECK(es_sha256_with_variant(ALL_VARIANTS[v], a, len, got) == 0, "million rc");
        CHECK(memcmp(got, want, 32) == 0, "million a on %s",
              es_sha256_variant_name(ALL_VARIANTS[v]));
        free(a);
    }
}

/* Every variant against portable on every length 0..1100 at every alignment 0..7,
 * and at lengths around the 64 KiB mark. */
static void test_variants_agree(void)
{
    enum { MAXLEN = 1100 };
    uint8_t src[MAXLEN + 8];
    fill(src, sizeof src);
    size_t extra[] = {65535, 65536, 65537, 262143, 262145};
    for (size_t v = 1; v < N_VARIANTS; v++) {
        es_sha256_variant var = ALL_VARIANTS[v];
        if (!es_sha256_variant_available(var)) {
            uint8_t out[32];
            CHECK(es_sha256_with_variant(var, src, 1, out) == -1, "unavailable variant ran");
            continue;
        }
        printf("checking variant %s against portable\n", es_sha256_variant_name(var));
        for (size_t len = 0; len <= MAXLEN; len++) {
            for (size_t align = 0; align < 8; align++) {
                /* An exact block of len + align bytes, message starting at align. */
                uint8_t *block = exact_copy(src, len + align);
                uint8_t want[32], got[32];
                es_sha256_with_variant(ES_SHA256_PORTABLE, block + align, len, want);
                es_sha256_with_variant(var, block + align, len, got);
                CHECK(memcmp(want, got, 32) == 0, "%s len %zu align %zu",
                      es_sha256_variant_name(var), len, align);
                free(block);
            }
        }
        for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
            uint8_t *big = malloc(extra[i]);
            fill(big, extra[i]);
            uint8_t want[32], got[32];
            es_sha256_with_variant(ES_SHA256_PORTABLE, big, extra[i], want);
            es_sha256_with_variant(var, big, extra[i], got);
            CHECK(memcmp(want, got, 32) == 0, "%s len %zu", es_sha256_variant_name(var), extra[i]);
            free(big);
        }
    }
}

/* Multi-message API: mixed lengths in one call equal one-at-a-time hashing. */
static void test_many(void)
{
    enum { COUNT = 203 };
    uint64_t offsets[COUNT + 1];
    offsets[0] = 0;
    for (size_t i = 0; i < COUNT; i++)
        offsets[i + 1] = offsets[i] + (rng_byte() * 7u) % 300;
    size_t total = (size_t)offsets[COUNT];
    uint8_t *buf = malloc(total);
    fill(buf, total);
    uint8_t *out = malloc(32 * COUNT);
    for (size_t v = 0; v < N_VARIANTS; v++) {
        es_sha256_variant var = ALL_VARIANTS[v];
        if (!es_sha256_variant_available(var))
            continue;
        for (size_t count = 0; count <= COUNT; count += (count < 10 ? 1 : 49)) {
            memset(out, 0, 32 * COUNT);
            CHECK(es_sha256_many_with_variant(var, buf, total, offsets, count, out) == 0,
                  "many rc");
            for (size_t i = 0; i < count; i++) {
                uint8_t want[32];
                es_sha256_with_variant(ES_SHA256_PORTABLE, buf + offsets[i],
                                       (size_t)(offsets[i + 1] - offsets[i]), want);
                CHECK(memcmp(out + 32 * i, want, 32) == 0, "%s many[%zu] of %zu",
                      es_sha256_variant_name(var), i, count);
            }
        }
    }
    /* Fixed-length messages with a prefix equal prefix||message hashed alone. */
    uint8_t prefix[64];
    fill(prefix, sizeof prefix);
    for (size_t plen = 0; plen <= 64; plen += 1 + plen / 3) {
        for (size_t mlen = 0; mlen < 140; mlen += 1 + mlen / 4) {
            size_t count = 5;
            uint8_t *msgs = exact_copy(buf, mlen * count);
            uint8_t got[32 * 5];
            CHECK(es_sha256_many_fixed(prefix, plen, msgs, mlen, count, got) == 0, "fixed rc");
            for (size_t i = 0; i < count; i++) {
                uint8_t *joined = malloc(plen + mlen + 1);
                memcpy(joined, prefix, plen);
                if (mlen)
                    memcpy(joined + plen, msgs + i * mlen, mlen);
                uint8_t want[32];
                es_sha256(joined, plen + mlen, want);
                CHECK(memcmp(got + 32 * i, want, 32) == 0, "fixed plen %zu mlen %zu i %zu", plen,
                      mlen, i);
                free(joined);
            }
            free(msgs);
        }
    }
    /* prefix(1) || 64 bytes, the Merkle node shape, has its own kernel path: every
     * lane count, every prefix byte value class, against one-at-a-time hashing. */
    for (size_t count = 0; count <= 9; count++) {
        for (unsigned p = 0; p < 3; p++) {
            uint8_t pre = (uint8_t)(p == 0 ? 0x00 : p == 1 ? 0x01 : 0xff);
            uint8_t *msgs = exact_copy(buf, 64 * count);
            uint8_t got[32 * 9];
            CHECK(es_sha256_many_fixed(&pre, 1, msgs, 64, count, got) == 0, "hash65 rc");
            for (size_t i = 0; i < count; i++) {
                uint8_t joined[65], want[32];
                joined[0] = pre;
                memcpy(joined + 1, msgs + 64 * i, 64);
                es_sha256_with_variant(ES_SHA256_PORTABLE, joined, 65, want);
                CHECK(memcmp(got + 32 * i, want, 32) == 0, "hash65 count %zu i %zu pre %u", count,
                      i, pre);
            }
            free(msgs);
        }
    }
    free(buf);
    free(out);
}

static void test_bad_arguments(void)
{
    uint8_t out[32], data[4] = {1, 2, 3, 4};
    uint64_t decreasing[3] = {0, 3, 2}, past_end[2] = {0, 5};
    size_t bad = 99;
    CHECK(es_sha256(NULL, 1, out) == -1, "NULL data with length");
    CHECK(es_sha256(NULL, 0, out) == 0, "NULL data, length 0 is the empty message");
    CHECK(es_sha256(data, 4, NULL) == -1, "NULL out");
    CHECK(es_sha256_with_variant((es_sha256_variant)7, data, 4, out) == -1, "unknown variant");
    CHECK(es_sha256_many(data, 4, decreasing, 2, out) == -1, "decreasing offsets");
    CHECK(es_offsets_check(decreasing, 2, 4, &bad) == -1 && bad == 2, "bad index %zu", bad);
    CHECK(es_sha256_many(data, 4, past_end, 1, out) == -1, "offset past end");
    CHECK(es_offsets_check(past_end, 1, 4, &bad) == -1 && bad == 1, "bad index %zu", bad);
    CHECK(es_sha256_many_fixed(data, 65, data, 1, 1, out) == -1, "prefix too long");
    CHECK(es_sha256_many_fixed(NULL, 0, data, SIZE_MAX / 2, 3, out) == -1, "size overflow");
    CHECK(es_sha256_variant_name((es_sha256_variant)42) == NULL, "name of unknown variant");
}

/* --- Merkle ----------------------------------------------------------------------- */

/* The RFC 9162 recursion, written independently of merkle_hash.c (which works bottom up). */
static void naive_mth(const uint8_t *buf, const uint64_t *off, size_t lo, size_t hi,
                      uint8_t out[32])
{
    size_t n = hi - lo;
    if (n == 0) {
        es_sha256(NULL, 0, out);
        return;
    }
    if (n == 1) {
        size_t len = (size_t)(off[lo + 1] - off[lo]);
        uint8_t *m = malloc(len + 1);
        m[0] = 0x00;
        memcpy(m + 1, buf + off[lo], len);
        es_sha256(m, len + 1, out);
        free(m);
        return;
    }
    size_t k = 1;
    while (2 * k < n)
        k *= 2;
    uint8_t node[65];
    node[0] = 0x01;
    naive_mth(buf, off, lo, lo + k, node + 1);
    naive_mth(buf, off, lo + k, hi, node + 33);
    es_sha256(node, 65, out);
}

/* Certificate Transparency's 8-leaf reference tree (RFC 6962 hashes trees as RFC
 * 9162 does): the published root of every prefix of the leaves. */
static void test_merkle_known_roots(void)
{
    static const char *const leaves_hex[8] = {"",
                                              "00",
                                              "10",
                                              "2021",
                                              "3031",
                                              "40414243",
                                              "5051525354555657",
                                              "606162636465666768696a6b6c6d6e6f"};
    static const char *const roots_hex[8] = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
    uint8_t buf[64];
    uint64_t off[9];
    off[0] = 0;
    for (size_t i = 0; i < 8; i++) {
        hex_to(leaves_hex[i], buf + off[i]);
        off[i + 1] = off[i] + strlen(leaves_hex[i]) / 2;
    }
    uint8_t *exact = exact_copy(buf, (size_t)off[8]);
    for (size_t n = 1; n <= 8; n++) {
        uint8_t want[32], got[32];
        hex_to(roots_hex[n - 1], want);
        CHECK(es_merkle_root(exact, (size_t)off[8], off, n, got) == 0, "ct root rc");
        CHECK(memcmp(got, want, 32) == 0, "CT reference root of %zu leaves", n);
    }
    free(exact);
}

static void test_merkle(void)
{
    enum { MAXN = 140 };
    uint64_t off[MAXN + 1];
    off[0] = 0;
    for (size_t i = 0; i < MAXN; i++)
        off[i + 1] = off[i] + rng_byte() % 90;
    size_t total = (size_t)off[MAXN];
    uint8_t *buf = malloc(total);
    fill(buf, total);
    uint8_t *proof = malloc(32 * 64);
    uint8_t *roots = malloc(32 * (MAXN + 1));
    for (size_t n = 0; n <= MAXN; n++) {
        uint8_t want[32];
        naive_mth(buf, off, 0, n, want);
        CHECK(es_merkle_root(buf, total, off, n, roots + 32 * n) == 0, "root rc n=%zu", n);
        CHECK(memcmp(roots + 32 * n, want, 32) == 0, "root n=%zu", n);
    }
    for (size_t n = 1; n <= MAXN; n++) {
        const uint8_t *root = roots + 32 * n;
        for (size_t i = 0; i < n; i++) {
            size_t len = 0;
            int valid = -1;
            CHECK(es_merkle_inclusion_proof(buf, total, off, n, i, proof, 64, &len) == 0,
                  "path rc");
            CHECK(len == es_merkle_inclusion_proof_len(i, n), "path len");
            const uint8_t *leaf = buf + off[i];
            size_t leaf_len = (size_t)(off[i + 1] - off[i]);
            es_merkle_verify_inclusion(leaf, leaf_len, i, n, proof, len, root, &valid);
            CHECK(valid == 1, "inclusion n=%zu i=%zu", n, i);
            if (len > 0) {
                proof[32 * (len - 1) + 5] ^= 0x10; /* modified-proof[last]-bit-@4 of byte 5 */
                es_merkle_verify_inclusion(leaf, leaf_len, i, n, proof, len, root, &valid);
                CHECK(valid == 0, "tampered inclusion n=%zu i=%zu", n, i);
                proof[32 * (len - 1) + 5] ^= 0x10;
            }
            es_merkle_verify_inclusion(leaf, leaf_len, i, n, proof, len + 1, root, &valid);
            CHECK(valid == 0, "trailing-garbage inclusion n=%zu i=%zu", n, i);
            es_merkle_verify_inclusion(leaf, leaf_len, n, n, proof, len, root, &valid);
            CHECK(valid == 0, "index == size n=%zu", n);
        }
        for (size_t m = 0; m <= n; m++) {
            size_t len = 0;
            int valid = -1;
            CHECK(es_merkle_consistency_proof(buf, total, off, n, m, proof, 64, &len) == 0,
                  "consistency rc");
            CHECK(len == es_merkle_consistency_proof_len(m, n), "consistency len");
            es_merkle_verify_consistency(m, n, roots + 32 * m, root, proof, len, &valid);
            CHECK(valid == 1, "consistency m=%zu n=%zu", m, n);
            if (len > 0) {
                proof[0] ^= 1;
                es_merkle_verify_consistency(m, n, roots + 32 * m, root, proof, len, &valid);
                CHECK(valid == 0, "tampered consistency m=%zu n=%zu", m, n);
                proof[0] ^= 1;
            }
        }
    }
    /* Many inclusion checks in one call, every second one tampered. */
    {
        enum { N = 37 };
        uint64_t idx[N], sizes[N], poff[N + 1];
        uint8_t *proofs = malloc(32 * 64 * N), *rts = malloc(32 * N), res[N];
        poff[0] = 0;
        for (size_t i = 0; i < N; i++) {
            size_t len = 0;
            idx[i] = i;
            sizes[i] = N;
            es_merkle_inclusion_proof(buf, total, off, N, i, proofs + 32 * poff[i], 64, &len);
            poff[i + 1] = poff[i] + len;
            memcpy(rts + 32 * i, roots + 32 * N, 32);
            if (i % 2)
                rts[32 * i] ^= 0x80;
        }
        idx[N - 1] = N; /* out of range: reported as 2 */
        CHECK(es_merkle_verify_inclusion_many(buf, total, off, N, idx, sizes, proofs,
                                              (size_t)poff[N], poff, rts, res) == 0,
              "many rc");
        for (size_t i = 0; i + 1 < N; i++)
            CHECK(res[i] == (i % 2 ? 0 : 1), "many result %zu = %u", i, res[i]);
        CHECK(res[N - 1] == 2, "many out of range = %u", res[N - 1]);
        free(proofs);
        free(rts);
    }
    /* Misuse is -1, never a crash. */
    size_t len = 0;
    int valid;
    uint64_t bad_off[3] = {0, 5, 1};
    CHECK(es_merkle_root(buf, total, bad_off, 2, proof) == -1, "bad offsets");
    CHECK(es_merkle_inclusion_proof(buf, total, off, 5, 5, proof, 64, &len) == -1, "index==n");
    CHECK(es_merkle_inclusion_proof(buf, total, off, 100, 3, proof, 2, &len) == -1, "cap");
    CHECK(es_merkle_consistency_proof(buf, total, off, 5, 6, proof, 64, &len) == -1, "m > n");
    CHECK(es_merkle_verify_consistency(6, 5, roots, roots, proof, 0, &valid) == -1, "m > n");
    CHECK(es_merkle_verify_inclusion(NULL, 3, 0, 1, proof, 0, roots, &valid) == -1, "NULL");
    CHECK(es_merkle_node_hash(NULL, roots, proof) == -1, "NULL node");
    free(buf);
    free(proof);
    free(roots);
}

/* Trees larger than the root's internal chunk (2048 leaves): every chunk boundary
 * case against the recursive definition, and proofs that cross chunks. */
static void test_merkle_large(void)
{
    static const size_t sizes[] = {2047, 2048, 2049, 4096, 4097, 6143, 10000};
    size_t maxn = 10000;
    uint64_t *off = malloc(sizeof *off * (maxn + 1));
    off[0] = 0;
    /* The first 4097 leaves are 64 bytes (the copy-free leaf path), the rest vary. */
    for (size_t i = 0; i < maxn; i++)
        off[i + 1] = off[i] + (i < 4097 ? 64 : 20 + rng_byte() % 50);
    size_t total = (size_t)off[maxn];
    uint8_t *buf = malloc(total);
    fill(buf, total);
    uint8_t proof[32 * 64];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t want[32], got[32];
        naive_mth(buf, off, 0, n, want);
        CHECK(es_merkle_root(buf, total, off, n, got) == 0, "large root rc");
        CHECK(memcmp(got, want, 32) == 0, "large root n=%zu", n);
        size_t probes[] = {0, 2047, 2048, n / 2, n - 1};
        for (size_t p = 0; p < 5; p++) {
            size_t i = probes[p] < n ? probes[p] : n - 1, len = 0;
            int valid = -1;
            CHECK(es_merkle_inclusion_proof(buf, total, off, n, i, proof, 64, &len) == 0, "rc");
            es_merkle_verify_inclusion(buf + off[i], (size_t)(off[i + 1] - off[i]), i, n, proof,
                                       len, want, &valid);
            CHECK(valid == 1, "large inclusion n=%zu i=%zu", n, i);
            uint8_t old_root[32];
            naive_mth(buf, off, 0, i + 1, old_root);
            CHECK(es_merkle_consistency_proof(buf, total, off, n, i + 1, proof, 64, &len) == 0,
                  "rc");
            es_merkle_verify_consistency(i + 1, n, old_root, want, proof, len, &valid);
            CHECK(valid == 1, "large consistency m=%zu n=%zu", i + 1, n);
        }
    }
    free(off);
    free(buf);
}

/* Leaves given as body + fixed-size suffix (record || signature) hash like the
 * joined leaves, for suffixes shorter and longer than a block and trees larger
 * than one chunk; proofs likewise. */
static void test_merkle_suffixed(void)
{
    static const size_t counts[] = {0, 1, 2, 3, 7, 100, 2049, 4100};
    static const size_t suffix_lens[] = {0, 1, 55, 64, 65, 200};
    size_t maxn = 4100, maxsuf = 200;
    uint64_t *off = malloc(sizeof *off * (maxn + 1));
    uint64_t *joined_off = malloc(sizeof *joined_off * (maxn + 1));
    off[0] = 0;
    for (size_t i = 0; i < maxn; i++)
        off[i + 1] = off[i] + rng_byte() % 150;
    size_t total = (size_t)off[maxn];
    uint8_t *body = malloc(total), *suffixes = malloc(maxn * maxsuf);
    uint8_t *joined = malloc(total + maxn * maxsuf);
    fill(body, total);
    fill(suffixes, maxn * maxsuf);
    uint8_t proof_a[32 * 64], proof_b[32 * 64];
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        for (size_t s = 0; s < sizeof suffix_lens / sizeof suffix_lens[0]; s++) {
            size_t n = counts[c], sl = suffix_lens[s];
            /* Exact-size copies so ASan sees any read past either buffer. */
            uint8_t *suf = exact_copy(suffixes, n * sl);
            size_t jlen = 0;
            joined_off[0] = 0;
            for (size_t i = 0; i < n; i++) {
                size_t blen = (size_t)(off[i + 1] - off[i]);
                memcpy(joined + jlen, body + off[i], blen);
                memcpy(joined + jlen + blen, suf + i * sl, sl);
                jlen += blen + sl;
                joined_off[i + 1] = jlen;
            }
            uint8_t *bodies = exact_copy(body, (size_t)off[n]);
            uint8_t want[32], got[32];
            CHECK(es_merkle_root(joined, jlen, joined_off, n, want) == 0, "joined root rc");
            CHECK(es_merkle_root_suffixed(bodies, (size_t)off[n], off, n, suf, n * sl, sl, got) ==
                      0,
                  "suffixed root rc");
            CHECK(memcmp(want, got, 32) == 0, "suffixed root n=%zu suffix=%zu", n, sl);
            if (n > 0) {
                size_t i = n / 2, la = 0, lb = 0;
                es_merkle_inclusion_proof(joined, jlen, joined_off, n, i, proof_a, 64, &la);
                CHECK(es_merkle_inclusion_proof_suffixed(bodies, (size_t)off[n], off, n, suf,
                                                         n * sl, sl, i, proof_b, 64, &lb) == 0,
                      "suffixed proof rc");
                CHECK(la == lb && memcmp(proof_a, proof_b, 32 * la) == 0,
                      "suffixed proof n=%zu suffix=%zu", n, sl);
            }
            CHECK(es_merkle_root_suffixed(bodies, (size_t)off[n], off, n, suf, n * sl + 1, sl,
                                          got) == -1,
                  "suffix length mismatch accepted");
            free(suf);
            free(bodies);
        }
    }
    free(off);
    free(joined_off);
    free(body);
    free(suffixes);
    free(joined);
}

int main(void)
{
    printf("active variant: %s (cpu features 0x%x)\n",
           es_sha256_variant_name(es_sha256_active_variant()), es_cpu_features());
    test_known_answers();
    test_variants_agree();
    test_many();
    test_bad_arguments();
    test_merkle_known_roots();
    test_merkle();
    test_merkle_large();
    test_merkle_suffixed();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
