/*
 * Run-time choice of the SHA-256 variant.
 *
 * CPU features are read once (cpuid on x86-64, getauxval on AArch64 Linux) and the
 * best variant's table is stored, under pthread_once when the library loads, in the
 * only mutable global of the hashing module. EDGESEAL_SHA256, read at that moment
 * only, may name a variant to use instead ("portable" to rule out hardware rounds);
 * a name this CPU cannot run, or "auto", leaves the choice to the CPU features.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sha256_impl.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_SHA2
#define HWCAP_SHA2 (1 << 6)
#endif
#endif

static const char *const variant_names[ES_SHA256_VARIANT_COUNT] = {
    "portable",
    "x86_shani",
    "arm_ce",
};

/* Filled once by choose(); read-only afterwards. */
static struct {
    uint32_t features;
    es_sha256_variant active;
    int forced;
} dispatch;
static pthread_once_t dispatch_once = PTHREAD_ONCE_INIT;

static uint32_t detect_features(void)
{
    uint32_t found = 0;
#if defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        if (ecx & bit_SSSE3)
            found |= ES_CPU_X86_SSSE3;
        if (ecx & bit_SSE4_1)
            found |= ES_CPU_X86_SSE41;
    }
    /* Leaf 7, sub-leaf 0, EBX bit 29: SHA extensions (Intel SDM vol. 2A, CPUID). */
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & (1u << 29)))
        found |= ES_CPU_X86_SHA;
#elif defined(__aarch64__) && defined(__linux__)
    unsigned long hwcap = getauxval(AT_HWCAP);
    if (hwcap & HWCAP_ASIMD)
        found |= ES_CPU_ARM_ASIMD;
    if (hwcap & HWCAP_SHA2)
        found |= ES_CPU_ARM_SHA2;
#endif
    return found;
}

static int runnable(es_sha256_variant variant, uint32_t features)
{
    (void)features; /* unread where no hardware variant is compiled (32-bit ARM, s390x) */
    switch (variant) {
    case ES_SHA256_PORTABLE:
        return 1;
    case ES_SHA256_X86_SHANI: {
#if defined(__x86_64__)
        /* The SHA-NI code also uses pshufb/palignr (SSSE3) and pblendw (SSE4.1). */
        const uint32_t need = ES_CPU_X86_SHA | ES_CPU_X86_SSSE3 | ES_CPU_X86_SSE41;
        return (features & need) == need;
#else
        return 0;
#endif
    }
    case ES_SHA256_ARM_CE: {
#if defined(__aarch64__)
        const uint32_t need = ES_CPU_ARM_ASIMD | ES_CPU_ARM_SHA2;
        return (features & need) == need;
#else
        return 0;
#endif
    }
    default:
        return 0;
    }
}

static void choose(void)
{
    uint32_t features = detect_features();
    es_sha256_variant best = ES_SHA256_PORTABLE;
    if (runnable(ES_SHA256_X86_SHANI, features))
        best = ES_SHA256_X86_SHANI;
    if (runnable(ES_SHA256_ARM_CE, features))
        best = ES_SHA256_ARM_CE;
    int forced = 0;
    const char *wanted = getenv("EDGESEAL_SHA256");
    if (wanted != NULL) {
        for (int v = 0; v < ES_SHA256_VARIANT_COUNT; v++) {
            if (strcasecmp(wanted, variant_names[v]) == 0 &&
                runnable((es_sha256_variant)v, features)) {
                best = (es_sha256_variant)v;
                forced = 1;
            }
        }
    }
    dispatch.features = features;
    dispatch.active = best;
    dispatch.forced = forced;
}

static void ensure_chosen(void)
{
    (void)pthread_once(&dispatch_once, choose);
}

/* At load time (import of the extension, or start of a C program), before any thread
 * of the caller can be inside this library: the environment is read there and never
 * again, so a thread writing os.environ later cannot race a getenv() (the same rule as
 * ed25519_dispatch.c). */
__attribute__((constructor)) static void choose_at_load(void)
{
    ensure_chosen();
}

const es_sha256_impl *es_sha256_impl_of(es_sha256_variant variant)
{
    ensure_chosen();
    if (!runnable(variant, dispatch.features))
        return NULL;
    switch (variant) {
#if defined(__x86_64__)
    case ES_SHA256_X86_SHANI:
        return &es_sha256_impl_x86_shani;
#endif
#if defined(__aarch64__)
    case ES_SHA256_ARM_CE:
        return &es_sha256_impl_arm_ce;
#endif
    case ES_SHA256_PORTABLE:
        return &es_sha256_impl_portable;
    default:
        return NULL;
    }
}

const es_sha256_impl *es_sha256_active_impl(void)
{
    return es_sha256_impl_of(es_sha256_active_variant());
}

es_sha256_variant es_sha256_active_variant(void)
{
    ensure_chosen();
    return dispatch.active;
}

int es_sha256_variant_available(es_sha256_variant variant)
{
    ensure_chosen();
    return runnable(variant, dispatch.features);
}

const char *es_sha256_variant_name(es_sha256_variant variant)
{
    if ((int)variant < 0 || (int)variant >= ES_SHA256_VARIANT_COUNT)
        return NULL;
    return variant_names[variant];
}

uint32_t es_cpu_features(void)
{
    ensure_chosen();
    return dispatch.features;
}

int es_sha256_forced(void)
{
    ensure_chosen();
    return dispatch.forced;
}
