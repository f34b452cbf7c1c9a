/* fuzz_cron.c: libFuzzer harness for common/cron.c (CronJob schedules).
 * Not built by CMake; see tests/fuzz/run.sh.
 *
 * Any string parses or is rejected with a message. For a parsed schedule,
 * run times come out strictly increasing from a few starting instants, each
 * at a whole minute, and the latest run before an instant is the one that
 * cron_next finds from just before it; every call returns (a schedule that
 * never fires was rejected, so none may search forever). */
#include "common/cron.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[256], err[256] = "";
    struct cron_expr c;
    if (size >= sizeof s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    int rc = cron_parse(s, &c, err, sizeof err);
    if (rc) {
        if (rc != BE_INVAL || !err[0])
            abort();
        return 0;
    }
    static const int64_t starts[] = {0, 951782400 /* 2000-02-29 */, 1798761599,
                                     4102444800 /* 2100-01-01 */};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        int64_t t = starts[i];
        for (int k = 0; k < 5; k++) {
            int64_t next = cron_next(&c, NULL, t);
            if (next == -1)
                break;
            if (next <= t || next % 60 != 0) {
                fprintf(stderr, "\"%s\": after %lld came %lld\n", s, (long long)t,
                        (long long)next);
                abort();
            }
            int64_t last = cron_last(&c, NULL, next - 1, next);
            if (last != next) {
                fprintf(stderr, "\"%s\": last run up to %lld is %lld\n", s,
                        (long long)next, (long long)last);
                abort();
            }
            t = next;
        }
    }
    return 0;
}
