/* runtime_exec.c: exec_sync, running a command inside a live container (exec
 * probes). It blocks up to timeout_ms, so the agent calls it off its loop.
 *
 * The agent is multithreaded and setns() into a mount namespace needs a
 * single-threaded caller, so everything happens in a forked helper A: it
 * joins the container's cgroup, enters its IPC, UTS, PID and mount
 * namespaces through /proc/PID/ns/{ipc,uts,pid,mnt}, chroots to /proc/PID/root (opened
 * beforehand), then forks B, the first process really inside the PID
 * namespace, which execs argv with the container's env and working dir. A
 * waits for B and exits with its status; B dies with A (PR_SET_PDEATHSIG).
 * Output (stdout and stderr together) comes back through a pipe; on timeout
 * A is killed and BE_TIMEOUT returned. Only async-signal-safe calls run
 * between fork and exec: every string is prepared before the fork. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/runtime_int.h"
#include "common/errors.h"

enum { NS_N = 4 };
static const char *const ns_names[NS_N] = {"ipc", "uts", "pid", "mnt"};

struct exec_plan {
    const struct rt_spec *spec;
    char *const *argv;
    char **envp;
    int ns_fd[NS_N]; /* -1: do not enter */
    int root_fd;
    int out_fd;      /* write end of the output pipe */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The container's env, with the default PATH when it sets none. */
static char **build_env(const struct rt_spec *s)
{
    size_t n = 0;
    bool has_path = false;
    for (char **e = s->env; *e; e++, n++)
        has_path = has_path || strncmp(*e, "PATH=", 5) == 0;
    char **v = calloc(n + 2, sizeof *v);
    if (!v)
        return NULL;
    memcpy(v, s->env, n * sizeof *v); /* borrowed from the spec */
    if (!has_path)
        v[n] = "PATH=" RT_DEFAULT_PATH;
    return v;
}

__attribute__((noreturn)) static void run_b(const struct exec_plan *p)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (chdir(p->spec->working_dir) != 0 && chdir("/") != 0)
        _exit(126);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
        dup2(null_fd, 0);
    dup2(p->out_fd, 1);
    dup2(p->out_fd, 2);
    rt_reset_signals();
    environ = p->envp; /* execvpe searches the PATH of environ */
    execvpe(p->argv[0], p->argv, p->envp);
    static const char msg[] = "exec: executable file not found\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(127);
    _exit(errno == ENOENT ? 127 : 126);
}

__attribute__((noreturn)) static void run_a(const struct exec_plan *p)
{
    if (p->spec->isolated && p->spec->cg.version)
        rt_cg_join(&p->spec->cg); /* best effort: a probe still runs without it */
    for (int i = 0; i < NS_N; i++)
        if (p->ns_fd[i] >= 0 && setns(p->ns_fd[i], 0) != 0)
            _exit(126);
    if (p->root_fd >= 0 && (fchdir(p->root_fd) != 0 || chroot(".") != 0))
        _exit(126);
    pid_t b = fork();
    if (b < 0)
        _exit(126);
    if (b == 0)
        run_b(p);
    close(p->out_fd);
    int st;
    while (waitpid(b, &st, 0) < 0)
        if (errno != EINTR)
            _exit(126);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static int open_plan(struct exec_plan *p, pid_t pid)
{
    char path[64];
    for (int i = 0; i < NS_N; i++)
        p->ns_fd[i] = -1;
    p->root_fd = -1;
    if (!p->spec->isolated)
        return 0;
    for (int i = 0; i < NS_N; i++) {
        snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, ns_names[i]);
        if ((p->ns_fd[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            return BE_UNAVAIL;
    }
    snprintf(path, sizeof path, "/proc/%d/root", (int)pid);
    p->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return p->root_fd < 0 ? BE_UNAVAIL : 0;
}

static void close_plan(struct exec_plan *p)
{
    for (int i = 0; i < NS_N; i++)
        if (p->ns_fd[i] >= 0)
            close(p->ns_fd[i]);
    if (p->root_fd >= 0)
        close(p->root_fd);
}

/* Reads the helper's output until EOF and its exit, or the deadline. */
static int collect(pid_t a, int fd, int64_t deadline, char *out, size_t outlen)
{
    size_t got = 0;
    int st = 0;
    bool exited = false, eof = false;
    while (!exited || !eof) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            kill(a, SIGKILL);
            waitpid(a, &st, 0);
            if (outlen)
                out[got] = '\0';
            return BE_TIMEOUT;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int wait = eof ? 10 : (int)(left < 50 ? left : 50);
        if (!eof && poll(&pfd, 1, wait) > 0) {
            char buf[4096];
            ssize_t n = read(fd, buf, sizeof buf);
            if (n <= 0 && !(n < 0 && errno == EINTR))
                eof = true;
            for (ssize_t i = 0; i < n && got + 1 < outlen; i++)
                out[got++] = buf[i];
        } else if (eof) {
            usleep(wait * 1000);
        }
        if (!exited && waitpid(a, &st, WNOHANG) == a)
            exited = true;
        if (exited && !eof && poll(&pfd, 1, 0) == 0)
            eof = true; /* a background process keeps the pipe: stop here */
    }
    if (outlen)
        out[got] = '\0';
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int rt_linux_exec_sync(rt_t *rt, const char *id, char *const *argv, int timeout_ms,
                       char *out, size_t outlen)
{
    char dir[PATH_MAX];
    struct rt_spec s;
    struct rt_exit e;
    pid_t pid;
    unsigned long long start;
    if (outlen)
        out[0] = '\0';
    if (!argv || !argv[0])
        return BE_INVAL;
    if (rt_state_path(rt->impl, id, dir, sizeof dir) != 0 || rt_spec_read(dir, &s) != 0)
        return BE_NOTFOUND;
    int rc = BE_UNAVAIL; /* not running */
    struct exec_plan p = {.spec = &s, .argv = argv, .out_fd = -1};
    int pfd[2] = {-1, -1};
    if (rt_exit_read(dir, &e) == 0 || rt_pidfile_read(dir, RT_PID_FILE, &pid, &start, NULL) ||
        !rt_proc_alive(pid, start) || open_plan(&p, pid) != 0)
        goto out;
    rc = BE_NOMEM;
    if (!(p.envp = build_env(&s)))
        goto out;
    rc = BE_IO;
    if (pipe2(pfd, O_CLOEXEC) != 0)
        goto out;
    p.out_fd = pfd[1];
    int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 1000);
    pid_t a = fork();
    if (a == 0)
        run_a(&p);
    close(pfd[1]);
    if (a > 0)
        rc = collect(a, pfd[0], deadline, out, outlen);
    close(pfd[0]);
out:
    close_plan(&p);
    free(p.envp);
    rt_spec_free(&s);
    return rc;
}
