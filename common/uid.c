/* uid.c: see uid.h. The pool is per thread (berthd makes uids on its loop
 * and on the request worker, common/offload.h), so no locking. A
 * getrandom() failure falls back to a clock-seeded rand(), which keeps uids
 * unique enough but is logged nowhere: it does not happen on Linux ≥ 3.17
 * once the RNG is seeded. */
#include "common/uid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void uid_random_bytes(unsigned char *out, size_t n)
{
    static _Thread_local unsigned char pool[4096];
    static _Thread_local size_t avail;
    while (n) {
        if (avail == 0) {
            ssize_t got = getrandom(pool, sizeof pool, 0);
            if (got <= 0) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                srand((unsigned)(ts.tv_nsec ^ ts.tv_sec));
                for (size_t i = 0; i < sizeof pool; i++) pool[i] = (unsigned char)rand();
                got = sizeof pool;
            }
            avail = (size_t)got;
        }
        size_t take = n < avail ? n : avail;
        unsigned char *src = pool + sizeof pool - avail;
        memcpy(out, src, take);
        memset(src, 0, take); /* never hand the same bytes out twice */
        avail -= take;
        out += take;
        n -= take;
    }
}

void uid_format(unsigned char r[16], char out[UID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    /* 8-4-4-4-12 hex digits; a table, not snprintf: this runs per create */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hex[r[i] >> 4];
        *p++ = hex[r[i] & 15];
    }
    *p = 0;
}

void uid_new(char out[UID_LEN])
{
    unsigned char r[16];
    uid_random_bytes(r, sizeof r);
    uid_format(r, out);
}
