/* Run-time choice of the Ed25519 core's vector kernels.
 *
 * CPU features are read once (cpuid, and xgetbv for the operating system's
 * support of the AVX-512 register state) and the best runnable variant is
 * stored, under pthread_once, in the only mutable global of this module.
 * EDGESEAL_ED25519 may name a variant instead ("portable" rules out vector
 * code); a name this CPU cannot run, or "auto", leaves the choice to the CPU.
 * The environment is read once, when the library is loaded (the constructor
 * below) or at the first call, whichever comes first: never on a call path
 * that runs without the GIL, where a concurrent setenv() in another thread
 * could free the array getenv() walks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>

#include "es_ed25519.h"
#include "ed25519_dispatch.h"
#include "ed25519_simd.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define ES_X86_CPUID 1
#endif

enum { CPU_AVX512F = 1u << 0, CPU_AVX512IFMA = 1u << 1 };

static const es_ed25519_impl impls[ES_ED25519_VARIANT_COUNT] = {
    [ES_ED25519_PORTABLE] = {"portable", NULL, NULL, NULL},
#ifdef ES_HAVE_SHA512_X8
    [ES_ED25519_AVX512F] = {"avx512f", NULL, NULL, es_sha512_x8_avx512},
#else
    [ES_ED25519_AVX512F] = {"avx512f", NULL, NULL, NULL},
#endif
#if defined(ES_HAVE_ED25519_IFMA) && defined(ES_HAVE_SHA512_X8)
    [ES_ED25519_AVX512IFMA] = {"avx512ifma", es_fe51_pow22523_x16_ifma, es_msm_buckets_ifma,
                               es_sha512_x8_avx512},
#else
    [ES_ED25519_AVX512IFMA] = {"avx512ifma", NULL, NULL, NULL},
#endif
};

/* Filled once by choose(); read-only afterwards. */
static struct {
    unsigned features;
    es_ed25519_variant active;
} dispatch;
static pthread_once_t dispatch_once = PTHREAD_ONCE_INIT;

static unsigned detect_features(void)
{
    unsigned found = 0;
#ifdef ES_X86_CPUID
    unsigned eax, ebx, ecx, edx;
    /* Leaf 1 ECX bit 27: OSXSAVE (xgetbv usable). XCR0 bits 1, 2 (SSE, AVX) and
     * 5, 6, 7 (opmask, upper ZMM halves, ZMM16-31) say the OS saves the AVX-512
     * state (Intel SDM vol. 1, 15.2). */
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27)))
        return 0;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    if ((xcr0_lo & 0xe6) != 0xe6)
        return 0;
    /* Leaf 7, sub-leaf 0, EBX bit 16: AVX512F; bit 21: AVX512IFMA. */
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
        if (ebx & (1u << 16))
            found |= CPU_AVX512F;
        if ((ebx & (1u << 16)) && (ebx & (1u << 21)))
            found |= CPU_AVX512IFMA;
    }
#endif
    return found;
}

static int runnable(es_ed25519_variant variant, unsigned features)
{
    switch (variant) {
    case ES_ED25519_PORTABLE:
        return 1;
    case ES_ED25519_AVX512F:
        return impls[variant].sha512_x8 != NULL && (features & CPU_AVX512F);
    case ES_ED25519_AVX512IFMA:
        return impls[variant].fe_pow22523_x16 != NULL && (features & CPU_AVX512IFMA);
    default:
        return 0;
    }
}

static void choose(void)
{
    const unsigned features = detect_features();
    es_ed25519_variant best = ES_ED25519_PORTABLE;
    for (int v = 0; v < ES_ED25519_VARIANT_COUNT; v++)
        if (runnable((es_ed25519_variant)v, features))
            best = (es_ed25519_variant)v; /* listed from least to most capable */
    const char *wanted = getenv("EDGESEAL_ED25519");
    if (wanted != NULL)
        for (int v = 0; v < ES_ED25519_VARIANT_COUNT; v++)
            if (strcasecmp(wanted, impls[v].name) == 0 && runnable((es_ed25519_variant)v, features))
                best = (es_ed25519_variant)v;
    dispatch.features = features;
    dispatch.active = best;
}

static void ensure_chosen(void)
{
    (void)pthread_once(&dispatch_once, choose);
}

/* At load time (import of the extension, or start of a C program), before
 * any thread of the caller can be inside a call of this library. */
__attribute__((constructor)) static void choose_at_load(void)
{
    ensure_chosen();
}

const es_ed25519_impl *es_ed25519_active_impl(void)
{
    ensure_chosen();
    return &impls[dispatch.active];
}

const es_ed25519_impl *es_ed25519_impl_of(es_ed25519_variant variant)
{
    ensure_chosen();
    if ((int)variant < 0 || variant >= ES_ED25519_VARIANT_COUNT ||
        !runnable(variant, dispatch.features))
        return NULL;
    return &impls[variant];
}

const char *es_ed25519_implementation(void)
{
    return es_ed25519_active_impl()->name;
}
