/* test_base64.c: decoding of Secret data (common/base64.c): the RFC 4648
 * test vectors, binary bytes, and every kind of bad input rejected. */
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/errors.h"
#include "unit.h"

static int decodes_to(const char *in, const char *want, size_t want_len)
{
    char *out = NULL;
    size_t n = 0;
    int rc = base64_decode(in, strlen(in), &out, &n);
    int ok = rc == 0 && n == want_len && memcmp(out, want, n) == 0 && out[n] == '\0';
    free(out);
    return ok;
}

static int rejected(const char *in)
{
    char *out = (char *)1;
    size_t n = 7;
    int rc = base64_decode(in, strlen(in), &out, &n);
    return rc == BE_INVAL && out == NULL && n == 0;
}

static void test_vectors(void)
{
    CHECK(decodes_to("", "", 0));
    CHECK(decodes_to("Zg==", "f", 1));
    CHECK(decodes_to("Zm8=", "fo", 2));
    CHECK(decodes_to("Zm9v", "foo", 3));
    CHECK(decodes_to("Zm9vYg==", "foob", 4));
    CHECK(decodes_to("Zm9vYmE=", "fooba", 5));
    CHECK(decodes_to("Zm9vYmFy", "foobar", 6));
    CHECK(decodes_to("AP8A/w==", "\0\xff\0\xff", 4));
    CHECK(decodes_to("czNjcjN0", "s3cr3t", 6));
}

static void test_bad_input(void)
{
    CHECK(rejected("Zg="));      /* not a multiple of four */
    CHECK(rejected("Zg"));
    CHECK(rejected("Z==="));     /* too much padding */
    CHECK(rejected("Zg==Zg=="));  /* padding in the middle */
    CHECK(rejected("Zm9v\nYg=="));
    CHECK(rejected("Zm9-"));     /* URL alphabet is not standard base64 */
    CHECK(rejected("Zm 9"));
}

int main(void)
{
    RUN(test_vectors);
    RUN(test_bad_input);
    return unit_failures ? 1 : 0;
}
