/* shim.c: `berth-agent shim STATE_DIR`, the parent of one container.
 *
 * Started detached by the runtime's start() (setsid, not the agent's child),
 * it reads STATE_DIR/spec.json, creates the container's cgroup with its
 * limits, clones the container into new namespaces (shim_child.c), records
 * its pid, then loops on poll(): the stdout/stderr pipes go into the log
 * file (shim_log.c), a signalfd brings SIGCHLD (the container exited) and
 * SIGTERM (a stop request: the grace period is in STATE_DIR/stop; SIGTERM to
 * the container now, SIGKILL when the grace is over). When the container has
 * exited and its pipes are drained, it writes STATE_DIR/exit.json (code,
 * signal, OOM kill from the cgroup's counters, times, reason, message) and
 * exits. It is single-threaded and does not use libuv. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/runtime_int.h"
#include "common/errors.h"
#include "common/log.h"

#define DRAIN_MS 2000 /* after exit, for pipes held open by orphans (plain mode) */

struct shim {
    const char *dir;
    struct rt_spec spec;
    struct rt_logw log;
    pid_t pid;
    int out_fd, err_fd, sig_fd;
    bool exited, stopping;
    int wstatus;
    int64_t kill_at_ms; /* 0: no SIGKILL pending */
    int64_t oom_base;
    time_t started_at;
    char msg[256];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void signal_container(struct shim *sh, int sig)
{
    if (sh->exited)
        return;
    if (sh->spec.isolated) {
        kill(sh->pid, sig); /* SIGKILL of the pid-ns init kills the namespace */
        if (sig == SIGKILL && sh->spec.cg.version)
            rt_cg_kill_all(&sh->spec.cg);
    } else {
        kill(-sh->pid, sig);
    }
}

static void on_stop(struct shim *sh, int sig)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", sh->dir, RT_STOP_FILE);
    int64_t grace = sig == SIGINT ? 0 : rt_read_int(path, 10);
    if (grace < 0)
        grace = 0;
    sh->stopping = true;
    log_info("shim", "%s: stop, grace %llds", sh->spec.id, (long long)grace);
    if (grace == 0) {
        signal_container(sh, SIGKILL);
        return;
    }
    signal_container(sh, SIGTERM);
    int64_t at = now_ms() + grace * 1000;
    if (sh->kill_at_ms == 0 || at < sh->kill_at_ms)
        sh->kill_at_ms = at;
}

static void on_signal(struct shim *sh)
{
    struct signalfd_siginfo si;
    while (read(sh->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            on_stop(sh, (int)si.ssi_signo);
            continue;
        }
        int st;
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0)
            if (p == sh->pid) {
                sh->exited = true;
                sh->wstatus = st;
            }
    }
}

static void pump(struct shim *sh, int *fd)
{
    char buf[65536];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0) {
        rt_logw_write(&sh->log, buf, (size_t)n);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(*fd);
        *fd = -1;
    }
}

static void loop(struct shim *sh)
{
    int64_t drain_until = 0;
    while (!sh->exited || sh->out_fd >= 0 || sh->err_fd >= 0) {
        int64_t now = now_ms(), timeout = -1;
        if (sh->exited && drain_until == 0)
            drain_until = now + DRAIN_MS;
        if (drain_until && now >= drain_until)
            break;
        if (sh->kill_at_ms && !sh->exited && now >= sh->kill_at_ms) {
            log_info("shim", "%s: grace period over, SIGKILL", sh->spec.id);
            signal_container(sh, SIGKILL);
            sh->kill_at_ms = 0;
        }
        if (drain_until)
            timeout = drain_until - now;
        else if (sh->kill_at_ms)
            timeout = sh->kill_at_ms > now ? sh->kill_at_ms - now : 0;
        struct pollfd p[3] = {{sh->sig_fd, POLLIN, 0}, {sh->out_fd, POLLIN, 0},
                              {sh->err_fd, POLLIN, 0}};
        if (poll(p, 3, (int)timeout) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            pump(sh, &sh->out_fd);
        if (p[2].revents)
            pump(sh, &sh->err_fd);
        if (p[0].revents)
            on_signal(sh);
    }
}

static void record(struct shim *sh, int code, int sig)
{
    struct rt_exit e = {.exit_code = code, .signal = sig, .started_at = sh->started_at};
    e.finished_at = time(NULL);
    int64_t ooms = rt_cg_oom_kills(&sh->spec.cg);
    if (ooms >= 0 && sh->oom_base >= 0)
        e.oom_killed = ooms > sh->oom_base;
    else if (sh->spec.cg.version == 1 && sh->spec.mem_limit_bytes > 0 && !sh->stopping &&
             (sig == SIGKILL || code == 128 + SIGKILL)) {
        char path[PATH_MAX + 32]; /* older kernels: no oom_kill counter */
        snprintf(path, sizeof path, "%s/memory.failcnt", sh->spec.cg.memory);
        e.oom_killed = rt_read_int(path, 0) > 0;
    }
    const char *reason = sh->msg[0] ? "ContainerCannotRun"
                         : e.oom_killed ? "OOMKilled"
                         : code == 0    ? "Completed"
                                        : "Error";
    snprintf(e.reason, sizeof e.reason, "%s", reason);
    snprintf(e.message, sizeof e.message, "%s", sh->msg);
    if (rt_exit_write(sh->dir, &e) != 0)
        log_error("shim", "%s: cannot write the exit record in %s", sh->spec.id, sh->dir);
}

/* Clones the container; reads its setup/exec error, if any, into sh->msg. */
static int spawn(struct shim *sh)
{
    int out[2], err[2], st[2];
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(st, O_CLOEXEC)) {
        snprintf(sh->msg, sizeof sh->msg, "pipe: %s", strerror(errno));
        return BE_IO;
    }
    long flags = SIGCHLD;
    if (sh->spec.isolated)
        flags |= CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    /* Raw clone with no new stack: fork semantics, plus the namespaces. */
    pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        snprintf(sh->msg, sizeof sh->msg, "clone: %s", strerror(errno));
        return BE_IO;
    }
    if (pid == 0) {
        close(out[0]);
        close(err[0]);
        close(st[0]);
        close(sh->sig_fd);
        rt_child_run(&sh->spec, sh->dir, out[1], err[1], st[1]);
    }
    sh->pid = pid;
    sh->started_at = time(NULL);
    close(out[1]);
    close(err[1]);
    close(st[1]);
    rt_pidfile_write(sh->dir, RT_PID_FILE, pid, rt_proc_starttime(pid), sh->started_at);
    size_t got = 0;
    for (;;) { /* EOF: exec succeeded (close-on-exec) or the child died */
        ssize_t n = read(st[0], sh->msg + got, sizeof sh->msg - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) >= sizeof sh->msg - 1)
            break;
    }
    sh->msg[got] = '\0';
    close(st[0]);
    sh->out_fd = out[0];
    sh->err_fd = err[0];
    return 0;
}

static int prepare(struct shim *sh)
{
    struct rt_spec *s = &sh->spec;
    char path[PATH_MAX + 16];
    if (s->isolated && s->cg.version) {
        if (rt_cg_create(&s->cg, s, sh->msg, sizeof sh->msg) != 0)
            return BE_IO;
        sh->oom_base = rt_cg_oom_kills(&s->cg);
    }
    snprintf(path, sizeof path, "%s", s->log_path);
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = '\0';
        rt_mkdir_p(path, 0755);
    }
    if (rt_logw_open(&sh->log, s->log_path, s->log_max_bytes, s->log_max_files) != 0) {
        snprintf(sh->msg, sizeof sh->msg, "open log %s: %s", s->log_path, strerror(errno));
        return BE_IO;
    }
    return 0;
}

static int run(struct shim *sh)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sh->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sh->sig_fd < 0 || prepare(sh) != 0 || spawn(sh) != 0) {
        if (sh->sig_fd < 0)
            snprintf(sh->msg, sizeof sh->msg, "signalfd: %s", strerror(errno));
        sh->started_at = sh->started_at ? sh->started_at : time(NULL);
        log_error("shim", "%s: %s", sh->spec.id, sh->msg);
        record(sh, 128, 0);
        return 1;
    }
    loop(sh);
    while (!sh->exited) { /* pipes closed early: still wait for the exit */
        if (waitpid(sh->pid, &sh->wstatus, 0) == sh->pid)
            sh->exited = true;
        else if (errno != EINTR)
            break;
    }
    int st = sh->wstatus;
    if (WIFSIGNALED(st))
        record(sh, 128 + WTERMSIG(st), WTERMSIG(st));
    else
        record(sh, WEXITSTATUS(st), 0);
    return 0;
}

int rt_shim_main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "shim") != 0) {
        fprintf(stderr, "usage: %s shim STATE_DIR\n", argc > 0 ? argv[0] : "berth-agent");
        return 2;
    }
    log_init_from_env();
    struct shim sh = {.dir = argv[2], .out_fd = -1, .err_fd = -1, .sig_fd = -1,
                      .oom_base = -1};
    sh.log.fd = -1;
    int rc = rt_spec_read(sh.dir, &sh.spec);
    if (rc != 0) {
        log_error("shim", "cannot read %s/%s: %s", sh.dir, RT_SPEC_FILE, be_strerror(rc));
        struct rt_exit e = {.exit_code = 128, .started_at = time(NULL)};
        e.finished_at = e.started_at;
        snprintf(e.reason, sizeof e.reason, "ContainerCannotRun");
        snprintf(e.message, sizeof e.message, "shim: cannot read the container spec");
        rt_exit_write(sh.dir, &e);
        return 1;
    }
    rc = run(&sh);
    if (sh.out_fd >= 0)
        close(sh.out_fd);
    if (sh.err_fd >= 0)
        close(sh.err_fd);
    if (sh.sig_fd >= 0)
        close(sh.sig_fd);
    rt_logw_close(&sh.log);
    rt_spec_free(&sh.spec);
    return rc;
}
