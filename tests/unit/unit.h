/* unit.h: the smallest test harness that works with CTest.
 *
 * A test file defines functions `static void test_x(void)` and lists them in
 * main() with RUN(test_x). CHECK() records a failure with file and line and
 * goes on; the process exits non-zero if any check failed, so CTest sees it. */
#ifndef BERTH_UNIT_H
#define BERTH_UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            unit_failures++;                                               \
        }                                                                  \
    } while (0)

#define CHECK_INT(a, b)                                                    \
    do {                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                \
        if (a_ != b_) {                                                    \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n",    \
                    __FILE__, __LINE__, #a, a_, #b, b_);                   \
            unit_failures++;                                               \
        }                                                                  \
    } while (0)

#define CHECK_STR(a, b)                                                    \
    do {                                                                   \
        const char *a_ = (a), *b_ = (b);                                   \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                           \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n",      \
                    __FILE__, __LINE__, #a, a_ ? a_ : "(null)",            \
                    b_ ? b_ : "(null)");                                   \
            unit_failures++;                                               \
        }                                                                  \
    } while (0)

#define RUN(fn)                                                            \
    do {                                                                   \
        int before_ = unit_failures;                                       \
        fn();                                                              \
        fprintf(stderr, "%s %s\n", unit_failures == before_ ? "ok  " : "FAIL", #fn); \
    } while (0)

#define UNIT_EXIT() return unit_failures ? 1 : 0

/* A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it),
 * for servers like raft that need an address before they listen. Tests run
 * in parallel with others: never derive ports from the pid. */
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
static inline int unit_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

#endif
