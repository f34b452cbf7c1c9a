/* test_store_segfill.c: posix_fallocate() as berthd links it (segfill.c):
 * a file named open-N in a registered directory is filled with zeros and
 * has no unwritten extents; any other file, or one in a directory no
 * longer registered, is preallocated by libc as before. The extents of the
 * segments a real raft makes are checked in test_store_disk. Where the file
 * system has no unwritten extents to show (FIEMAP says none even for
 * libc's preallocation), only sizes and contents are checked. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extents.h"
#include "store/segfill.h"
#include "unit.h"

static char dir[64];

/* Preallocates len bytes of dir/name; returns posix_fallocate's result. */
static int prealloc(const char *name, off_t len, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return errno;
    int rc = posix_fallocate(fd, 0, len);
    close(fd);
    return rc;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : st.st_size;
}

static bool all_zero(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char buf[65536];
    size_t n;
    bool zero = true;
    while (zero && (n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n && zero; i++)
            zero = buf[i] == 0;
    fclose(f);
    return zero;
}

static void test_names(void)
{
    char path[128];
    int slot = segfill_register(dir);
    CHECK(slot >= 0);
    const char *yes[] = {"open-1", "open-123456789"};
    const char *no[] = {"open-", "open-1x", "xopen-1", "0000000000000001-0000000000000009",
                        "metadata1"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, yes[i]);
        int fd = open(path, O_RDWR | O_CREAT, 0600);
        CHECK(fd >= 0 && segfill_applies(fd));
        close(fd);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, no[i]);
        int fd = open(path, O_RDWR | O_CREAT, 0600);
        CHECK(fd >= 0 && !segfill_applies(fd));
        close(fd);
    }
    segfill_unregister(slot);
    snprintf(path, sizeof path, "%s/open-1", dir);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0 && !segfill_applies(fd));
    close(fd);
    CHECK(segfill_register("/nonexistent/berth") < 0);
}

static void test_fill(void)
{
    const off_t len = 4 << 20;
    char seg[128], other[128], late[128];
    int slot = segfill_register(dir);
    CHECK(slot >= 0);
    CHECK_INT(prealloc("open-7", len, seg, sizeof seg), 0);
    CHECK_INT(prealloc("other", len, other, sizeof other), 0);
    segfill_unregister(slot);
    CHECK_INT(prealloc("open-8", len, late, sizeof late), 0);
    CHECK_INT(file_size(seg), len);
    CHECK_INT(file_size(other), len);
    CHECK_INT(file_size(late), len);
    CHECK(all_zero(seg));
    CHECK(all_zero(other));
    int libc_unwritten = extents_unwritten(other);
    if (libc_unwritten <= 0) {
        fprintf(stderr, "note: this file system shows no unwritten extents; "
                        "sizes and contents checked only\n");
        return;
    }
    CHECK_INT(extents_unwritten(seg), 0);
    CHECK(extents_unwritten(late) > 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/var/tmp/berth-segfill-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_names);
    RUN(test_fill);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
    UNIT_EXIT();
}
