/* fuzz_quantity.c: libFuzzer harness for common/quantity.c (resource
 * quantities in manifests: "500m", "1.5Gi", "1e3"). Not built by CMake; see
 * tests/fuzz/run.sh.
 *
 * Any string parses or is rejected with BE_INVAL (UBSan catches overflow
 * on the way). A parsed quantity that is whole cpu millicores or bytes
 * formats into a string that parses back to the same value, for bytes up
 * to the largest count that fits in int64 milli-bytes (~8 PiB; "1e19m" is a
 * valid quantity of more bytes than that, which nothing formats back). */
#include "common/quantity.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[128], out[64];
    int64_t milli, v, back = -1;
    if (size >= sizeof s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    int rc = quantity_parse(s, &milli);
    if (rc != 0 && rc != BE_INVAL)
        abort();
    if (quantity_cpu_millis(s, &v) == 0 && v >= 0) {
        quantity_format_cpu(v, out, sizeof out);
        if (quantity_cpu_millis(out, &back) != 0 || back != v) {
            fprintf(stderr, "cpu %lld formats as \"%s\", which reads back as %lld\n",
                    (long long)v, out, (long long)back);
            abort();
        }
    }
    if (quantity_bytes(s, &v) == 0 && v >= 0 && v <= INT64_MAX / 1000) {
        quantity_format_bytes(v, out, sizeof out);
        if (quantity_bytes(out, &back) != 0 || back != v) {
            fprintf(stderr, "bytes %lld format as \"%s\", which reads back as %lld\n",
                    (long long)v, out, (long long)back);
            abort();
        }
    }
    return 0;
}
