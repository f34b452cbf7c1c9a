/* runtime_cgroup.c: the cgroups of pods and containers, on v2 or v1.
 *
 * Layout: OWN/<parent>/pod-<uid>/<container id>, where OWN is the cgroup the
 * agent itself sits in (per hierarchy on v1: the process may already be in a
 * nested memory cgroup, and ours go below it). Limits go on the container's
 * cgroup; usage is read from the pod's, which counts its children.
 * v2: one directory, cpu.max / cpu.weight / memory.max / memory.swap.max,
 * usage from cpu.stat and memory.current, OOM kills from memory.events.
 * v1: the cpu, cpuacct and memory hierarchies (maybe co-mounted), with
 * cpu.cfs_quota_us / cpu.shares / memory.limit_in_bytes (+memsw), usage from
 * cpuacct.usage and memory.usage_in_bytes, OOM kills from memory.oom_control. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "agent/runtime_int.h"
#include "common/errors.h"

#define CGROUP2_MAGIC 0x63677270
#define CFS_PERIOD 100000

/* The distinct directories of cg (v1 hierarchies may be co-mounted). */
static int cg_dirs(const struct rt_cgroup *cg, const char *out[3])
{
    const char *all[3] = {cg->cpu, cg->cpuacct, cg->memory};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        bool dup = !all[i][0];
        for (int j = 0; j < n; j++)
            dup = dup || strcmp(out[j], all[i]) == 0;
        if (!dup)
            out[n++] = all[i];
    }
    return cg->version == 0 ? 0 : n;
}

static bool has_token(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *p = list; p && *p;) {
        const char *end = strpbrk(p, ", \n");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == tl && strncmp(p, tok, tl) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* The line of /proc/self/cgroup for a v1 controller ("" for v2): its path. */
static int own_path(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return BE_IO;
    char line[4096];
    int rc = BE_NOTFOUND;
    while (fgets(line, sizeof line, f)) {
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!b)
            continue;
        *b = '\0';
        bool match = ctrl[0] ? has_token(a + 1, ctrl) : a[1] == '\0';
        if (match) {
            b[1 + strcspn(b + 1, "\n")] = '\0';
            snprintf(out, len, "%s", b + 1);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* v1: the directory of our own cgroup in the hierarchy holding ctrl. */
static int v1_own_dir(const char *ctrl, char *out, size_t len)
{
    char cgpath[PATH_MAX];
    if (own_path(ctrl, cgpath, sizeof cgpath) != 0)
        return BE_NOTFOUND;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return BE_IO;
    char line[4096];
    int rc = BE_NOTFOUND;
    while (rc != 0 && fgets(line, sizeof line, f)) {
        char root[PATH_MAX], mp[PATH_MAX], fstype[64], opts[1024];
        char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mp) != 2 ||
            sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
            continue;
        if (strcmp(fstype, "cgroup") != 0 || !has_token(opts, ctrl))
            continue;
        size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
        if (strncmp(cgpath, root, rl) != 0)
            continue;
        const char *rel = cgpath + rl;
        snprintf(out, len, "%s%s", mp, strcmp(rel, "/") == 0 ? "" : rel);
        rc = 0;
    }
    fclose(f);
    return rc;
}

/* v2: our own cgroup if it can delegate cpu and memory to children; else
 * (it holds processes, as a systemd service does) the hierarchy's root. */
static int v2_detect(const char *parent_name, struct rt_cgroup *roots, char *why, size_t len)
{
    char own[PATH_MAX], ctrls[256], path[PATH_MAX + 64];
    if (own_path("", own, sizeof own) != 0) {
        snprintf(why, len, "no cgroup v2 path in /proc/self/cgroup");
        return BE_UNAVAIL;
    }
    const char *bases[2] = {strcmp(own, "/") == 0 ? "" : own, ""};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && !bases[0][0])
            break;
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/cgroup.controllers", bases[i]);
        if (rt_read_file(path, ctrls, sizeof ctrls) < 0 || !has_token(ctrls, "cpu") ||
            !has_token(ctrls, "memory")) {
            snprintf(why, len, "cgroup v2 without the cpu and memory controllers");
            continue;
        }
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/cgroup.subtree_control", bases[i]);
        if (rt_write_file(path, "+cpu +memory") != 0) {
            snprintf(why, len, "cannot enable cpu and memory controllers in %s: %s", path,
                     strerror(errno));
            continue;
        }
        roots->version = 2;
        snprintf(roots->cpu, PATH_MAX, "/sys/fs/cgroup%s/%s", bases[i], parent_name);
        memcpy(roots->cpuacct, roots->cpu, PATH_MAX);
        memcpy(roots->memory, roots->cpu, PATH_MAX);
        return 0;
    }
    return BE_UNAVAIL;
}

static int v1_detect(const char *parent_name, struct rt_cgroup *roots, char *why, size_t len)
{
    char dir[PATH_MAX];
    const char *ctrl[3] = {"cpu", "cpuacct", "memory"};
    char *dst[3] = {roots->cpu, roots->cpuacct, roots->memory};
    for (int i = 0; i < 3; i++) {
        if (v1_own_dir(ctrl[i], dir, sizeof dir) != 0) {
            snprintf(why, len, "no cgroup v1 %s hierarchy mounted", ctrl[i]);
            return BE_UNAVAIL;
        }
        snprintf(dst[i], PATH_MAX, "%s/%s", dir, parent_name);
    }
    roots->version = 1;
    return 0;
}

int rt_cg_detect(const char *parent_name, struct rt_cgroup *roots, char *why, size_t len)
{
    struct statfs sfs;
    memset(roots, 0, sizeof *roots);
    int rc;
    if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_MAGIC)
        rc = v2_detect(parent_name, roots, why, len);
    else
        rc = v1_detect(parent_name, roots, why, len);
    if (rc != 0) {
        roots->version = 0;
        return rc;
    }
    const char *dirs[3];
    int n = cg_dirs(roots, dirs);
    for (int i = 0; i < n; i++) {
        if (rt_mkdir_p(dirs[i], 0755) != 0) {
            snprintf(why, len, "cannot create cgroup %s: %s", dirs[i], strerror(errno));
            roots->version = 0;
            return BE_UNAVAIL;
        }
    }
    if (roots->version == 2) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/cgroup.subtree_control", roots->cpu);
        rt_write_file(path, "+cpu +memory");
    }
    return 0;
}

static void join3(struct rt_cgroup *out, const struct rt_cgroup *in, const char *prefix,
                  const char *name)
{
    out->version = in->version;
    snprintf(out->cpu, PATH_MAX, "%s/%s%s", in->cpu, prefix, name);
    snprintf(out->cpuacct, PATH_MAX, "%s/%s%s", in->cpuacct, prefix, name);
    snprintf(out->memory, PATH_MAX, "%s/%s%s", in->memory, prefix, name);
}

void rt_cg_pod(const struct rt_cgroup *roots, const char *pod_uid, struct rt_cgroup *out)
{
    join3(out, roots, "pod-", pod_uid);
}

void rt_cg_child(const struct rt_cgroup *pod, const char *name, struct rt_cgroup *out)
{
    join3(out, pod, "", name);
}

static int set(const char *dir, const char *file, const char *val, char *err, size_t len)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (rt_write_file(path, val) == 0)
        return 0;
    snprintf(err, len, "cgroup: cannot write %s to %s: %s", val, path, strerror(errno));
    return BE_IO;
}

static int limits_v1(const struct rt_cgroup *cg, const struct rt_spec *s, char *err, size_t len)
{
    char v[64];
    int rc = 0;
    if (s->cpu_limit_millis > 0) {
        int64_t quota = s->cpu_limit_millis * (CFS_PERIOD / 1000);
        snprintf(v, sizeof v, "%d", CFS_PERIOD);
        rc = set(cg->cpu, "cpu.cfs_period_us", v, err, len);
        snprintf(v, sizeof v, "%lld", (long long)(quota < 1000 ? 1000 : quota));
        if (rc == 0)
            rc = set(cg->cpu, "cpu.cfs_quota_us", v, err, len);
    }
    if (rc == 0 && s->cpu_request_millis > 0) {
        int64_t shares = s->cpu_request_millis * 1024 / 1000;
        snprintf(v, sizeof v, "%lld", (long long)(shares < 2 ? 2 : shares));
        rc = set(cg->cpu, "cpu.shares", v, err, len);
    }
    if (rc == 0 && s->mem_limit_bytes > 0) {
        char memsw[PATH_MAX + 64];
        snprintf(v, sizeof v, "%lld", (long long)s->mem_limit_bytes);
        rc = set(cg->memory, "memory.limit_in_bytes", v, err, len);
        snprintf(memsw, sizeof memsw, "%s/memory.memsw.limit_in_bytes", cg->memory);
        if (rc == 0 && access(memsw, F_OK) == 0) /* no swapping past the limit */
            rc = set(cg->memory, "memory.memsw.limit_in_bytes", v, err, len);
    }
    return rc;
}

static int limits_v2(const struct rt_cgroup *cg, const struct rt_spec *s, char *err, size_t len)
{
    char v[64], path[PATH_MAX + 64];
    int rc = 0;
    if (s->cpu_limit_millis > 0) {
        int64_t quota = s->cpu_limit_millis * (CFS_PERIOD / 1000);
        snprintf(v, sizeof v, "%lld %d", (long long)(quota < 1000 ? 1000 : quota), CFS_PERIOD);
        rc = set(cg->cpu, "cpu.max", v, err, len);
    }
    if (rc == 0 && s->cpu_request_millis > 0) {
        int64_t shares = s->cpu_request_millis * 1024 / 1000;
        shares = shares < 2 ? 2 : shares > 262144 ? 262144 : shares;
        snprintf(v, sizeof v, "%lld", (long long)(1 + (shares - 2) * 9999 / 262142));
        rc = set(cg->cpu, "cpu.weight", v, err, len);
    }
    if (rc == 0 && s->mem_limit_bytes > 0) {
        snprintf(v, sizeof v, "%lld", (long long)s->mem_limit_bytes);
        rc = set(cg->memory, "memory.max", v, err, len);
        snprintf(path, sizeof path, "%s/memory.swap.max", cg->memory);
        if (rc == 0 && access(path, F_OK) == 0)
            rc = set(cg->memory, "memory.swap.max", "0", err, len);
    }
    return rc;
}

int rt_cg_create(const struct rt_cgroup *cg, const struct rt_spec *s, char *err, size_t len)
{
    const char *dirs[3];
    int n = cg_dirs(cg, dirs);
    for (int i = 0; i < n; i++) {
        if (rt_mkdir_p(dirs[i], 0755) != 0) {
            snprintf(err, len, "cgroup: cannot create %s: %s", dirs[i], strerror(errno));
            return BE_IO;
        }
    }
    if (cg->version == 2) {
        /* Enable the controllers in the pod cgroup for the container's. */
        char pod[PATH_MAX + 64];
        snprintf(pod, sizeof pod, "%s", cg->cpu);
        char *slash = strrchr(pod, '/');
        if (slash) {
            snprintf(slash, sizeof pod - (size_t)(slash - pod), "/cgroup.subtree_control");
            rt_write_file(pod, "+cpu +memory");
        }
        return limits_v2(cg, s, err, len);
    }
    return cg->version == 1 ? limits_v1(cg, s, err, len) : 0;
}

/* Async-signal-safe: no stdio, no malloc (called between fork and exec). */
int rt_cg_join(const struct rt_cgroup *cg)
{
    const char *dirs[3];
    int n = cg_dirs(cg, dirs);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 16];
        size_t dl = strlen(dirs[i]);
        if (dl + sizeof "/cgroup.procs" > sizeof path)
            return BE_INVAL;
        memcpy(path, dirs[i], dl);
        memcpy(path + dl, "/cgroup.procs", sizeof "/cgroup.procs");
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return BE_IO;
        ssize_t w = write(fd, "0", 1); /* 0: the writing process */
        close(fd);
        if (w != 1)
            return BE_IO;
    }
    return 0;
}

int64_t rt_cg_oom_kills(const struct rt_cgroup *cg)
{
    char path[PATH_MAX + 32];
    if (cg->version == 2) {
        snprintf(path, sizeof path, "%s/memory.events", cg->memory);
        return rt_kv_read(path, "oom_kill");
    }
    if (cg->version == 1) {
        snprintf(path, sizeof path, "%s/memory.oom_control", cg->memory);
        return rt_kv_read(path, "oom_kill");
    }
    return -1;
}

int rt_cg_usage(const struct rt_cgroup *cg, struct rt_usage *u)
{
    char path[PATH_MAX + 32];
    int64_t mem, inactive;
    memset(u, 0, sizeof *u);
    if (cg->version == 0)
        return BE_UNAVAIL;
    snprintf(path, sizeof path, "%s", cg->memory);
    if (access(path, F_OK) != 0)
        return BE_NOTFOUND;
    if (cg->version == 2) {
        snprintf(path, sizeof path, "%s/cpu.stat", cg->cpu);
        int64_t usec = rt_kv_read(path, "usage_usec");
        u->cpu_usage_ns = usec > 0 ? (uint64_t)usec * 1000 : 0;
        snprintf(path, sizeof path, "%s/memory.current", cg->memory);
        mem = rt_read_int(path, 0);
        snprintf(path, sizeof path, "%s/memory.stat", cg->memory);
        inactive = rt_kv_read(path, "inactive_file");
    } else {
        snprintf(path, sizeof path, "%s/cpuacct.usage", cg->cpuacct);
        int64_t ns = rt_read_int(path, 0);
        u->cpu_usage_ns = ns > 0 ? (uint64_t)ns : 0;
        snprintf(path, sizeof path, "%s/memory.usage_in_bytes", cg->memory);
        mem = rt_read_int(path, 0);
        snprintf(path, sizeof path, "%s/memory.stat", cg->memory);
        inactive = rt_kv_read(path, "total_inactive_file");
    }
    /* The working set, as kubelet reports it: usage minus inactive file pages. */
    if (inactive > 0 && inactive < mem)
        mem -= inactive;
    u->memory_bytes = mem > 0 ? (uint64_t)mem : 0;
    return 0;
}

int rt_cg_kill_all(const struct rt_cgroup *cg)
{
    const char *dirs[3];
    int n = cg_dirs(cg, dirs);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 16], buf[8192];
        snprintf(path, sizeof path, "%s/cgroup.procs", dirs[i]);
        if (rt_read_file(path, buf, sizeof buf) <= 0)
            continue;
        for (char *p = buf; *p;) {
            long pid = strtol(p, &p, 10);
            if (pid > 0)
                kill((pid_t)pid, SIGKILL);
            while (*p == '\n')
                p++;
            if (pid <= 0 && *p)
                p++;
        }
    }
    return 0;
}

int rt_cg_remove(const struct rt_cgroup *cg, int wait_ms)
{
    const char *dirs[3];
    int n = cg_dirs(cg, dirs), rc = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        for (;;) {
            if (rmdir(dirs[i]) == 0 || errno == ENOENT)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
            if (errno != EBUSY || ms >= wait_ms) {
                rc = BE_IO;
                break;
            }
            usleep(10 * 1000); /* the last task of the cgroup is being reaped */
        }
    }
    return rc;
}
