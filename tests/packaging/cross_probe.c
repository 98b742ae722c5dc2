/*
 * Probe for scripts/cross-test: reports which code paths a cross-built native
 * core takes on the emulated CPU, and checks the SHA-256 variants it can run.
 *
 * The C tests (tests/native/c) check correctness; this program exists so the
 * cross-test can *prove* that the paths it is meant to cover were compiled and
 * chosen: the ARMv8 SHA-256 instructions under `qemu-aarch64 -cpu max`, and the
 * 32-bit (10-limb) field arithmetic on armv7, where unsigned __int128 is missing.
 *
 * Output, one "key=value" per line:
 *   sha256_active=<variant name>     what the dispatcher picked
 *   sha256_available=<name,name,..>  every variant this CPU can run
 *   field=fe25|fe51                  the field representation compiled in
 *   pointer_bits=32|64
 *   kat=ok                           known answers matched on every variant
 * Exit status 0 when every available variant gives the known answers and agrees
 * with the portable code on boundary lengths and unaligned inputs, 1 otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ed25519_fe.h" /* selects ES_FE25 where unsigned __int128 is missing */
#include "es_sha256.h"

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf"): "abc" and the 448-bit message. */
static const char *const kat_msgs[] = {
    "",
    "abc",
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
};
static const char *const kat_hex[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
};

static int hex_matches(const uint8_t digest[32], const char *hex) {
    char buf[65];
    for (size_t i = 0; i < 32; i++) snprintf(buf + 2 * i, 3, "%02x", digest[i]);
    return strcmp(buf, hex) == 0;
}

static int check_variant(es_sha256_variant v) {
    uint8_t got[32], want[32];
    for (size_t k = 0; k < sizeof kat_msgs / sizeof kat_msgs[0]; k++) {
        const char *m = kat_msgs[k];
        if (es_sha256_with_variant(v, (const uint8_t *)m, strlen(m), got) != 0 ||
            !hex_matches(got, kat_hex[k])) {
            printf("kat_fail=%s message %zu\n", es_sha256_variant_name(v), k);
            return 1;
        }
    }
    /* Block boundaries (55/56 decide whether the length fits in the last block)
     * at every alignment offset 0..7, against the portable code. */
    static uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len + off <= 260; len++) {
            if (es_sha256_with_variant(v, buf + off, len, got) != 0 ||
                es_sha256_with_variant(ES_SHA256_PORTABLE, buf + off, len, want) != 0 ||
                memcmp(got, want, 32) != 0) {
                printf("mismatch=%s len=%zu offset=%zu\n", es_sha256_variant_name(v), len, off);
                return 1;
            }
        }
    }
    return 0;
}

int main(void) {
    int failed = 0;
    int first = 1;
    printf("sha256_active=%s\n", es_sha256_variant_name(es_sha256_active_variant()));
    printf("sha256_available=");
    for (int v = 0; v < ES_SHA256_VARIANT_COUNT; v++) {
        if (es_sha256_variant_available((es_sha256_variant)v)) {
            printf("%s%s", first ? "" : ",", es_sha256_variant_name((es_sha256_variant)v));
            first = 0;
        }
    }
    printf("\n");
#ifdef ES_FE25
    printf("field=fe25\n");
#else
    printf("field=fe51\n");
#endif
    printf("pointer_bits=%u\n", (unsigned)(sizeof(void *) * 8));
    for (int v = 0; v < ES_SHA256_VARIANT_COUNT; v++) {
        if (es_sha256_variant_available((es_sha256_variant)v))
            failed |= check_variant((es_sha256_variant)v);
    }
    printf("kat=%s\n", failed ? "FAILED" : "ok");
    return failed;
}
