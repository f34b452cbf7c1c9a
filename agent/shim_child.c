/* shim_child.c: the container process between clone() and exec. It runs
 * already inside the new PID, mount, UTS and IPC namespaces (when isolated):
 * joins the container's cgroup, makes every mount private, sets the
 * hostname, builds the root filesystem (overlay of the image + fresh /proc +
 * a small /dev, then pivot_root; or, for image "host", only a fresh /proc),
 * sets env and working dir, wires stdout/stderr to the shim's pipes and execs
 * the command. Any failure is written as one message to status_fd (closed on
 * a successful exec) and the process exits 127 (not found), 126 (not
 * executable) or 128 (setup failed). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/runtime_int.h"

static int status_fd = -1;

__attribute__((noreturn, format(printf, 2, 3))) static void fail(int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof msg - 1)
        n = (int)sizeof msg - 1;
    if (status_fd >= 0 && n > 0 && write(status_fd, msg, (size_t)n) < 0) {
        /* nothing left to report to */
    }
    _exit(code);
}

static void mount_or_fail(const char *src, const char *dst, const char *type,
                          unsigned long flags, const char *data)
{
    if (mount(src, dst, type, flags, data) != 0)
        fail(128, "mount %s on %s: %s", type ? type : src, dst, strerror(errno));
}

/* A tmpfs /dev with the harmless host devices bound in. */
static void make_dev(const char *root)
{
    static const char *const devs[] = {"null", "zero", "full", "random", "urandom", "tty"};
    static const char *const links[][2] = {{"fd", "/proc/self/fd"},
                                           {"stdin", "/proc/self/fd/0"},
                                           {"stdout", "/proc/self/fd/1"},
                                           {"stderr", "/proc/self/fd/2"}};
    char path[PATH_MAX + 64], src[64];
    snprintf(path, sizeof path, "%s/dev", root);
    mkdir(path, 0755);
    mount_or_fail("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k");
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
        snprintf(path, sizeof path, "%s/dev/%s", root, devs[i]);
        snprintf(src, sizeof src, "/dev/%s", devs[i]);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd >= 0)
            close(fd);
        if (access(src, F_OK) == 0)
            mount_or_fail(src, path, NULL, MS_BIND, NULL);
    }
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(path, sizeof path, "%s/dev/%s", root, links[i][0]);
        if (symlink(links[i][1], path) != 0)
            fail(128, "symlink %s: %s", path, strerror(errno));
    }
    snprintf(path, sizeof path, "%s/dev/shm", root);
    mkdir(path, 01777);
    mount_or_fail("shm", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k");
}

/* The writable layer (overlay upper and work dirs) and the mount point of
 * the root live in a tmpfs mounted over the state dir in this mount
 * namespace only: the host never sees them, nothing is left to clean up
 * when the container's last process exits, its pages are charged to the
 * container's memory cgroup (joined before), and creating them costs no
 * inode of the agent's disk. On ext4 with a churn of recently deleted
 * inodes those creates cost ~0.4 ms each, and a container start took a
 * dozen of them (docs/benchmarks.md, pod start). A restarted container gets
 * a fresh writable layer, as in Kubernetes. */
static void make_scratch(const struct rt_spec *s, const char *dir)
{
    char opts[64], path[PATH_MAX + 16];
    if (s->mem_limit_bytes > 0)
        snprintf(opts, sizeof opts, "mode=0700,size=%lld", (long long)s->mem_limit_bytes);
    else
        snprintf(opts, sizeof opts, "mode=0700");
    mount_or_fail("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts);
    static const char *const sub[] = {"rootfs", "upper", "work"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, sub[i]);
        if (mkdir(path, 0755) != 0)
            fail(128, "mkdir %s: %s", path, strerror(errno));
    }
}

static void make_rootfs(const struct rt_spec *s, const char *dir)
{
    char root[PATH_MAX], opts[3 * PATH_MAX + 64], path[PATH_MAX + 16];
    make_scratch(s, dir);
    snprintf(root, sizeof root, "%s/rootfs", dir);
    snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s/upper,workdir=%s/work", s->rootfs, dir,
             dir);
    mount_or_fail("overlay", root, "overlay", 0, opts);
    snprintf(path, sizeof path, "%s/proc", root);
    mkdir(path, 0555);
    mount_or_fail("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    make_dev(root);
    snprintf(path, sizeof path, "%s/tmp", root);
    mkdir(path, 01777);
    /* pivot_root(".", "."): the old root ends up stacked on the new one and
     * is detached right away, so no directory for it is needed. */
    if (chdir(root) != 0)
        fail(128, "chdir %s: %s", root, strerror(errno));
    if (syscall(SYS_pivot_root, ".", ".") != 0)
        fail(128, "pivot_root: %s", strerror(errno));
    if (umount2(".", MNT_DETACH) != 0)
        fail(128, "umount old root: %s", strerror(errno));
    if (chdir("/") != 0)
        fail(128, "chdir /: %s", strerror(errno));
}

static void isolate(const struct rt_spec *s, const char *dir)
{
    if (s->cg.version != 0 && rt_cg_join(&s->cg) != 0)
        fail(128, "cannot join cgroup %s: %s", s->cg.memory, strerror(errno));
    mount_or_fail(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    const char *host = s->hostname && *s->hostname ? s->hostname : s->pod_name;
    if (host && sethostname(host, strlen(host)) != 0)
        fail(128, "sethostname %s: %s", host, strerror(errno));
    if (s->rootfs)
        make_rootfs(s, dir);
    else
        mount_or_fail("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static void set_env(const struct rt_spec *s)
{
    clearenv();
    for (char **e = s->env; *e; e++)
        if (strchr(*e, '='))
            putenv(*e);
    if (!getenv("PATH"))
        setenv("PATH", RT_DEFAULT_PATH, 1);
    if (!getenv("HOME"))
        setenv("HOME", "/root", 1);
    if (!getenv("HOSTNAME") && s->hostname)
        setenv("HOSTNAME", s->hostname, 1);
}

void rt_child_run(const struct rt_spec *s, const char *dir, int out_fd, int err_fd, int sfd)
{
    status_fd = sfd;
    /* A dead shim means a dead container: nobody would log or reap it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0)
        fail(128, "open /dev/null: %s", strerror(errno));
    if (s->isolated)
        isolate(s, dir);
    else
        setpgid(0, 0); /* so that stop can signal the whole group */
    if (chdir(s->working_dir) != 0)
        fail(128, "chdir to working dir %s: %s", s->working_dir, strerror(errno));
    set_env(s);
    if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        fail(128, "dup2: %s", strerror(errno));
    rt_reset_signals();
    execvp(s->argv[0], s->argv);
    int e = errno;
    if (e == ENOENT && !strchr(s->argv[0], '/'))
        fail(127, "exec: \"%s\": executable file not found in $PATH", s->argv[0]);
    if (e == ENOENT)
        fail(127, "exec: \"%s\": no such file or directory", s->argv[0]);
    fail(126, "exec: \"%s\": %s", s->argv[0], strerror(e));
}
