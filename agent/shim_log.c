/* shim_log.c: the shim's writer of a container's log file, raw bytes as the
 * container wrote them, with a size cap: when the next chunk would pass
 * max_bytes, PATH.N-1 becomes PATH.N, ..., PATH becomes PATH.1 (the oldest
 * falls off after max_files) and writing goes on in a fresh PATH. A chunk is
 * cut at the last newline that fits so lines stay whole where possible. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/runtime_int.h"
#include "common/errors.h"
#include "common/log.h"

int rt_logw_open(struct rt_logw *w, const char *path, size_t max_bytes, int max_files)
{
    memset(w, 0, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    w->max_bytes = max_bytes ? max_bytes : 10 * 1024 * 1024;
    w->max_files = max_files > 0 ? max_files : 3;
    w->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (w->fd < 0)
        return BE_IO;
    struct stat st;
    w->size = fstat(w->fd, &st) == 0 ? (size_t)st.st_size : 0;
    return 0;
}

static void rotate(struct rt_logw *w)
{
    char from[PATH_MAX + 16], to[PATH_MAX + 16];
    close(w->fd);
    for (int i = w->max_files; i >= 1; i--) {
        if (i == 1)
            snprintf(from, sizeof from, "%s", w->path);
        else
            snprintf(from, sizeof from, "%s.%d", w->path, i - 1);
        snprintf(to, sizeof to, "%s.%d", w->path, i);
        if (rename(from, to) != 0 && errno != ENOENT)
            log_warn("shim", "rotate %s: %s", from, strerror(errno));
    }
    w->fd = open(w->path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    w->size = 0;
}

static void put(struct rt_logw *w, const char *buf, size_t n)
{
    while (n > 0 && w->fd >= 0) {
        ssize_t k = write(w->fd, buf, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return; /* disk full: drop rather than block the container */
        buf += k;
        n -= (size_t)k;
        w->size += (size_t)k;
    }
}

void rt_logw_write(struct rt_logw *w, const char *buf, size_t n)
{
    while (n > 0) {
        if (w->fd < 0)
            return;
        size_t room = w->size < w->max_bytes ? w->max_bytes - w->size : 0;
        if (n <= room) {
            put(w, buf, n);
            return;
        }
        size_t take = 0;
        for (size_t i = room; i > 0; i--)
            if (buf[i - 1] == '\n') {
                take = i;
                break;
            }
        if (take == 0 && w->size == 0)
            take = room; /* one line longer than the cap: cut it */
        put(w, buf, take);
        buf += take;
        n -= take;
        rotate(w);
    }
}

void rt_logw_close(struct rt_logw *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}
