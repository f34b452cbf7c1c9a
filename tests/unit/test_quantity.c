/* test_quantity.c: the Kubernetes quantity grammar (common/quantity.c):
 * suffixes, exponents, fractions, signs, rounding, overflow, formatting. */
#include "common/errors.h"
#include "common/quantity.h"
#include "tests/unit/unit.h"

#include <stdint.h>

static int64_t q(const char *s)
{
    int64_t v = -424242;
    if (quantity_parse(s, &v) != 0) return -424242;
    return v;
}

static void test_decimal(void)
{
    CHECK_INT(q("500m"), 500);
    CHECK_INT(q("2"), 2000);
    CHECK_INT(q("0"), 0);
    CHECK_INT(q("1k"), 1000000);
    CHECK_INT(q("1M"), 1000000000LL);
    CHECK_INT(q("1G"), 1000000000000LL);
    CHECK_INT(q("1P"), 1000000000000000000LL);
    CHECK_INT(q("1E"), -424242); /* 1e21 milli-units: too big */
    CHECK_INT(q("1000n"), 1);
    CHECK_INT(q("1u"), 1);        /* 0.001 milli rounds up */
    CHECK_INT(q("1n"), 1);
    CHECK_INT(q("1500u"), 2);     /* 1.5 milli rounds up */
    CHECK_INT(q("007"), 7000);
}

static void test_binary(void)
{
    CHECK_INT(q("1Ki"), 1024000);
    CHECK_INT(q("64Mi"), 67108864000LL);
    CHECK_INT(q("1.5Gi"), 1610612736000LL);
    CHECK_INT(q("0.0001Ki"), 103); /* 102.4 milli */
    CHECK_INT(q("7Ei"), -424242); /* 7Ei bytes fit, its milli-units do not */
    CHECK_INT(q("8Pi"), 9007199254740992000LL);
}

static void test_fraction_exponent(void)
{
    CHECK_INT(q("0.5"), 500);
    CHECK_INT(q(".5"), 500);
    CHECK_INT(q("1."), 1000);
    CHECK_INT(q("+1.25"), 1250);
    CHECK_INT(q("1e3"), 1000000);
    CHECK_INT(q("1E3"), 1000000);
    CHECK_INT(q("1E-3"), 1);
    CHECK_INT(q("1e+2"), 100000);
    CHECK_INT(q("2.5e-1"), 250);
    CHECK_INT(q("1e-100000"), 1);
    CHECK_INT(q("0e100000"), 0);
    CHECK_INT(q("0.000000000000000000000000000001"), 1);
}

static void test_sign(void)
{
    int64_t v;
    CHECK_INT(q("-1"), -1000);
    CHECK_INT(q("-500m"), -500);
    CHECK_INT(q("-0"), 0);
    CHECK_INT(quantity_cpu_millis("-1", &v), BE_INVAL);
    CHECK_INT(quantity_bytes("-1Ki", &v), BE_INVAL);
    CHECK_INT(quantity_cpu_millis("250m", &v), 0);
    CHECK_INT(v, 250);
    CHECK_INT(quantity_bytes("128Mi", &v), 0);
    CHECK_INT(v, 134217728);
    CHECK_INT(quantity_bytes("1500m", &v), 0);
    CHECK_INT(v, 2);
}

static void test_invalid(void)
{
    static const char *bad[] = {"", " ", "m", "1 ", " 1", "1x", "1KI", "1ki", "1Kii", "1e",
                                "1e-", "e3", ".", "+", "-", "1..2", "1.2.3", "--1", "1mm",
                                "1K", "0x10", "1,5", "１", "9223372036854775807",
                                "9223372036854776k", "1e19", "99999999999999999999999999999",
                                "8Ei", NULL};
    int64_t v;
    for (int i = 0; bad[i]; i++) {
        if (quantity_parse(bad[i], &v) != BE_INVAL) {
            fprintf(stderr, "accepted \"%s\"\n", bad[i]);
            CHECK(0);
        }
    }
    CHECK_INT(quantity_parse(NULL, &v), BE_INVAL);
    char longs[400];
    memset(longs, '1', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    CHECK_INT(quantity_parse(longs, &v), BE_INVAL);
    /* the largest that fits */
    CHECK_INT(quantity_parse("9223372036854775807m", &v), 0);
    CHECK_INT(v, INT64_MAX);
    CHECK_INT(quantity_parse("9223372036854775808m", &v), BE_INVAL);
}

static void test_format(void)
{
    char buf[32];
    quantity_format_cpu(250, buf, sizeof buf);
    CHECK_STR(buf, "250m");
    quantity_format_cpu(2000, buf, sizeof buf);
    CHECK_STR(buf, "2");
    quantity_format_cpu(0, buf, sizeof buf);
    CHECK_STR(buf, "0");
    quantity_format_bytes(134217728, buf, sizeof buf);
    CHECK_STR(buf, "128Mi");
    quantity_format_bytes(1073741824, buf, sizeof buf);
    CHECK_STR(buf, "1Gi");
    quantity_format_bytes(1500, buf, sizeof buf);
    CHECK_STR(buf, "1500");
    quantity_format_bytes(0, buf, sizeof buf);
    CHECK_STR(buf, "0");
    quantity_format_bytes(1536, buf, sizeof buf);
    CHECK_STR(buf, "1536");
    quantity_format_bytes(3072, buf, sizeof buf);
    CHECK_STR(buf, "3Ki");
}

int main(void)
{
    RUN(test_decimal);
    RUN(test_binary);
    RUN(test_fraction_exponent);
    RUN(test_sign);
    RUN(test_invalid);
    RUN(test_format);
    UNIT_EXIT();
}
