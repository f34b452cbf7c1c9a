/* runtime_util.c: small file, process and mount helpers for the runtime and
 * the shim: whole-file reads and atomic writes, mkdir -p / rm -rf that never
 * cross into a mount, process identity by pid + start time from
 * /proc/PID/stat, and unmounting everything below a directory by scanning
 * /proc/self/mountinfo. All errors come back as negative BE_* codes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/runtime_int.h"
#include "common/errors.h"

int rt_read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? BE_NOTFOUND : BE_IO;
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (int)got;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return BE_IO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int rt_write_file(const char *path, const char *data)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC | O_CREAT, 0644);
    if (fd < 0)
        return errno == ENOENT ? BE_NOTFOUND : BE_IO;
    /* cgroup files report errors on write(), so check it. */
    ssize_t n = write(fd, data, strlen(data));
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return BE_IO;
    }
    return 0;
}

int rt_write_atomic(const char *path, const char *data, size_t len)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CLOEXEC | O_TRUNC | O_CREAT, 0644);
    if (fd < 0)
        return BE_IO;
    int rc = write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0)
        rc = BE_IO;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = BE_IO;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int rt_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return BE_INVAL;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return BE_IO;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return BE_IO;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int rt_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : BE_IO;
    /* FTW_MOUNT: a mount left below path is never descended into. */
    return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 ? 0 : BE_IO;
}

int64_t rt_read_int(const char *path, int64_t dflt)
{
    char buf[64];
    if (rt_read_file(path, buf, sizeof buf) <= 0)
        return dflt;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    return errno != 0 || end == buf ? dflt : (int64_t)v;
}

int64_t rt_kv_read(const char *path, const char *key)
{
    char buf[8192];
    if (rt_read_file(path, buf, sizeof buf) <= 0)
        return -1;
    size_t kl = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ')
            return strtoll(line + kl + 1, NULL, 10);
    }
    return -1;
}

/* Field 22 of /proc/PID/stat, after the ")" that ends the command name. */
unsigned long long rt_proc_starttime(pid_t pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (rt_read_file(path, buf, sizeof buf) <= 0)
        return 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    if (*p == 'Z' || *p == 'X')
        return 0; /* exited, only not reaped yet */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

bool rt_proc_alive(pid_t pid, unsigned long long start)
{
    unsigned long long now = rt_proc_starttime(pid);
    return now != 0 && (start == 0 || now == start);
}

/* Calls fn on each mount point at or below prefix, deepest first. */
static int each_mount_under(const char *prefix, bool do_umount)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return BE_IO;
    char line[4096], *found[256];
    int n = 0;
    size_t pl = strlen(prefix);
    while (n < 256 && fgets(line, sizeof line, f)) {
        char mp[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
            continue;
        if (strncmp(mp, prefix, pl) == 0 && (mp[pl] == '\0' || mp[pl] == '/'))
            found[n++] = strdup(mp);
    }
    fclose(f);
    int count = n;
    for (int i = n - 1; i >= 0; i--) { /* mountinfo lists parents first */
        if (do_umount && found[i])
            umount2(found[i], MNT_DETACH);
        free(found[i]);
    }
    return count;
}

int rt_umount_under(const char *prefix)
{
    return each_mount_under(prefix, true) < 0 ? BE_IO : 0;
}

bool rt_mounted_under(const char *prefix)
{
    return each_mount_under(prefix, false) > 0;
}

bool rt_safe_name(const char *s)
{
    if (!s || !*s || strlen(s) > 63 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

/* Async-signal-safe: a container must not inherit the agent's ignored signals. */
void rt_reset_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}
