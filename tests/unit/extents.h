/* extents.h: how much of a file is allocated but unwritten (FIEMAP), for
 * the tests of store/segfill.c. */
#ifndef BERTH_TEST_EXTENTS_H
#define BERTH_TEST_EXTENTS_H

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Unwritten extents of the file at path, or -1 when the file system cannot
 * tell (no FIEMAP). */
static inline int extents_unwritten(const char *path)
{
    enum { MAX_EXTENTS = 512 };
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t size = sizeof(struct fiemap) + MAX_EXTENTS * sizeof(struct fiemap_extent);
    struct fiemap *fm = calloc(1, size);
    int n = -1;
    if (fm) {
        fm->fm_length = FIEMAP_MAX_OFFSET;
        fm->fm_flags = FIEMAP_FLAG_SYNC;
        fm->fm_extent_count = MAX_EXTENTS;
        if (ioctl(fd, FS_IOC_FIEMAP, fm) == 0) {
            n = 0;
            for (unsigned i = 0; i < fm->fm_mapped_extents; i++)
                n += (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN) != 0;
        }
        free(fm);
    }
    close(fd);
    return n;
}

#endif
