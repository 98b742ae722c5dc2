/* OS randomness for the batch verifier (ed25519_random.h).
 *
 * Sources, first one available wins:
 *   - Linux: getrandom(2) through syscall(2), so C libraries without the
 *     getrandom() wrapper (glibc before 2.25) work too; it blocks only
 *     until the kernel's pool is first seeded;
 *   - macOS and the BSDs: arc4random_buf(3), which cannot fail;
 *   - anything else, or a Linux kernel older than 3.17 (ENOSYS): /dev/urandom.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* syscall() */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "ed25519_random.h"

#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#define ES_HAVE_ARC4RANDOM 1
#endif

#if !defined(ES_HAVE_ARC4RANDOM)
static int read_dev_urandom(uint8_t *buf, size_t len)
{
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f)
        return -1;
    const size_t got = fread(buf, 1, len, f);
    fclose(f);
    return got == len ? 0 : -1;
}
#endif

int es_os_random_bytes(uint8_t *buf, size_t len)
{
#if defined(ES_HAVE_ARC4RANDOM)
    arc4random_buf(buf, len);
    return 0;
#else
#if defined(__linux__) && defined(SYS_getrandom)
    while (len > 0) {
        /* Requests of up to 256 bytes never return short; larger ones may
         * (and a signal may interrupt them), so loop until all is there. */
        const long got = syscall(SYS_getrandom, buf, len, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break; /* ENOSYS: the file below is the only source left */
        }
        buf += (size_t)got;
        len -= (size_t)got;
    }
    if (len == 0)
        return 0;
#endif
    return read_dev_urandom(buf, len);
#endif
}
