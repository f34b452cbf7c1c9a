/* runtime_linux.c: the real runtime behind runtime.h (rt_linux_open).
 *
 * start() validates the spec, writes STATE_DIR/ID/spec.json and launches the
 * shim (`SHIM shim STATE_DIR/ID`) through a double fork with setsid, so the
 * shim is not the agent's child and outlives an agent restart; it returns
 * once the shim has been exec'ed. Everything else reads or edits the state
 * directory (layout in runtime_int.h) and signals processes identified by
 * pid + start time: stop() leaves the grace period in a file and sends
 * SIGTERM to the shim, which enforces it; status() reads the exit record or
 * looks at /proc; remove() kills what is left, waits for the shim, unmounts
 * and deletes the state directory and removes the cgroups. exec_sync lives
 * in runtime_exec.c, cgroups in runtime_cgroup.c. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/runtime_int.h"
#include "common/errors.h"
#include "common/log.h"

#define WAIT_SHIM_MS 3000

static struct rt_linux *impl(rt_t *rt)
{
    return rt->impl;
}

int rt_state_path(struct rt_linux *L, const char *id, char *buf, size_t len)
{
    if (!id || !*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return BE_INVAL;
    if (snprintf(buf, len, "%s/%s", L->state_dir, id) >= (int)len)
        return BE_INVAL;
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int check_spec(struct rt_linux *L, const struct rt_container_spec *cs, char *rootfs,
                      char *err, size_t errlen)
{
    if (!cs || !cs->argv || !cs->argv[0] || !*cs->argv[0] || !rt_safe_name(cs->pod_uid) ||
        !rt_safe_name(cs->container) || cs->attempt < 0 || !cs->image || !*cs->image) {
        snprintf(err, errlen, "invalid container spec (pod uid, container name, image and "
                              "command are required)");
        return BE_INVAL;
    }
    rootfs[0] = '\0';
    if (strcmp(cs->image, "host") == 0)
        return 0;
    struct stat st;
    int n = snprintf(rootfs, PATH_MAX, "%s/%s", L->image_dir, cs->image);
    if (strchr(cs->image, '/') || strcmp(cs->image, "..") == 0 || strcmp(cs->image, ".") == 0 ||
        n >= PATH_MAX || stat(rootfs, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "image \"%s\" not found in %s", cs->image, L->image_dir);
        return BE_NOTFOUND;
    }
    if (strpbrk(rootfs, ",:")) { /* separators in overlay mount options */
        snprintf(err, errlen, "image path %s: \",\" and \":\" cannot be used", rootfs);
        return BE_INVAL;
    }
    return 0;
}

/* In the grandchild, between fork and exec: async-signal-safe calls only. */
__attribute__((noreturn)) static void exec_shim(const char *shim, char *const *argv,
                                                const char *logpath, int pipe_fd)
{
    pid_t self = getpid();
    if (write(pipe_fd, &self, sizeof self) != (ssize_t)sizeof self)
        _exit(127);
    int null_fd = open("/dev/null", O_RDONLY);
    int log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (null_fd < 0 || log_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 ||
        dup2(log_fd, 2) < 0)
        _exit(127);
    int keep = pipe_fd > 2 ? pipe_fd : 3; /* the pipe is close-on-exec */
    for (int fd = 3; fd < keep; fd++)
        close(fd);
    if (syscall(SYS_close_range, keep + 1, ~0U, 0) != 0)
        for (int fd = keep + 1; fd < 4096; fd++)
            close(fd);
    /* The shim starts with stop and child signals blocked, as it wants them
     * (signalfd): a stop sent right after start is never lost. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_SETMASK, &set, NULL);
    execv(shim, argv);
    int e = errno;
    if (write(pipe_fd, &e, sizeof e) < 0)
        _exit(127);
    _exit(127);
}

/* Double fork + setsid; returns the shim's pid once it has exec'ed. */
static int launch_shim(struct rt_linux *L, const char *dir, pid_t *pid_out, char *err,
                       size_t errlen)
{
    char logpath[PATH_MAX + 16], dircopy[PATH_MAX];
    snprintf(logpath, sizeof logpath, "%s/shim.log", dir);
    snprintf(dircopy, sizeof dircopy, "%s", dir);
    char *argv[] = {L->shim_path, "shim", dircopy, NULL};
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        goto err_sys;
    pid_t mid = fork();
    if (mid < 0) {
        close(p[0]);
        close(p[1]);
        goto err_sys;
    }
    if (mid == 0) {
        close(p[0]);
        setsid();
        pid_t g = fork();
        if (g == 0)
            exec_shim(L->shim_path, argv, logpath, p[1]);
        _exit(g < 0 ? 1 : 0);
    }
    close(p[1]);
    int st;
    while (waitpid(mid, &st, 0) < 0 && errno == EINTR) {
    }
    pid_t pid = 0;
    int e = 0;
    ssize_t n1 = read(p[0], &pid, sizeof pid);
    ssize_t n2 = n1 == (ssize_t)sizeof pid ? read(p[0], &e, sizeof e) : 0;
    close(p[0]);
    if (n1 != (ssize_t)sizeof pid || pid <= 0) {
        snprintf(err, errlen, "cannot start the shim %s", L->shim_path);
        return BE_IO;
    }
    if (n2 == (ssize_t)sizeof e) {
        snprintf(err, errlen, "cannot exec the shim %s: %s", L->shim_path, strerror(e));
        return BE_IO;
    }
    *pid_out = pid;
    return 0;
err_sys:
    snprintf(err, errlen, "cannot start the shim: %s", strerror(errno));
    return BE_IO;
}

static int rt_start(rt_t *rt, const struct rt_container_spec *cs, char id_out[RT_ID_MAX],
                    char *err, size_t errlen)
{
    struct rt_linux *L = impl(rt);
    char rootfs[PATH_MAX], id[RT_ID_MAX], dir[PATH_MAX], logp[PATH_MAX];
    int rc = check_spec(L, cs, rootfs, err, errlen);
    if (rc != 0)
        return rc;
    snprintf(id, sizeof id, "%s-%s-%d", cs->pod_uid, cs->container, cs->attempt);
    if ((rc = rt_state_path(L, id, dir, sizeof dir)) != 0) {
        snprintf(err, errlen, "container id too long");
        return rc;
    }
    if (mkdir(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return errno == EEXIST ? BE_EXISTS : BE_IO;
    }
    snprintf(logp, sizeof logp, "%s/%s/%s.log", L->log_dir, cs->pod_uid, cs->container);
    char *empty_env[] = {NULL};
    struct rt_spec s = {
        .id = id, .pod_uid = (char *)cs->pod_uid, .pod_name = (char *)cs->pod_name,
        .container = (char *)cs->container, .image = (char *)cs->image,
        .rootfs = rootfs[0] ? rootfs : NULL, .argv = (char **)cs->argv,
        .env = cs->env ? (char **)cs->env : empty_env,
        .working_dir = (char *)(cs->working_dir && *cs->working_dir ? cs->working_dir : "/"),
        .hostname = (char *)(cs->hostname ? cs->hostname : cs->pod_name), .log_path = logp,
        .attempt = cs->attempt, .cpu_limit_millis = cs->cpu_limit_millis,
        .mem_limit_bytes = cs->mem_limit_bytes, .cpu_request_millis = cs->cpu_request_millis,
        .log_max_bytes = L->log_max_bytes, .log_max_files = L->log_max_files,
        .isolated = rt->isolated};
    if (rt->isolated) {
        struct rt_cgroup pod;
        rt_cg_pod(&L->roots, cs->pod_uid, &pod);
        rt_cg_child(&pod, id, &s.cg);
    }
    pid_t shim = 0;
    if ((rc = rt_spec_write(dir, &s)) != 0) {
        snprintf(err, errlen, "cannot write %s/%s", dir, RT_SPEC_FILE);
        goto err_dir;
    }
    if ((rc = launch_shim(L, dir, &shim, err, errlen)) != 0)
        goto err_dir;
    rt_pidfile_write(dir, RT_SHIMPID_FILE, shim, rt_proc_starttime(shim), time(NULL));
    snprintf(id_out, RT_ID_MAX, "%s", id);
    log_debug(RT_COMP, "started %s (shim %d)", id, (int)shim);
    return 0;
err_dir:
    rt_rm_rf(dir);
    return rc;
}

static bool shim_alive(const char *dir)
{
    pid_t pid;
    unsigned long long start;
    if (rt_pidfile_read(dir, RT_SHIMPID_FILE, &pid, &start, NULL) != 0)
        return false;
    /* start 0: the shim was already gone when start() recorded it */
    return start != 0 && rt_proc_alive(pid, start);
}

static void fill_exit(struct rt_status *st, const struct rt_exit *e)
{
    st->phase = RT_EXITED;
    st->exit_code = e->exit_code;
    st->signal = e->signal;
    st->oom_killed = e->oom_killed;
    st->started_at = e->started_at;
    st->finished_at = e->finished_at;
    snprintf(st->reason, sizeof st->reason, "%s", e->reason);
    snprintf(st->message, sizeof st->message, "%s", e->message);
}

static int rt_status(rt_t *rt, const char *id, struct rt_status *st)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    memset(st, 0, sizeof *st);
    if (rt_state_path(impl(rt), id, dir, sizeof dir) != 0)
        return BE_NOTFOUND;
    snprintf(path, sizeof path, "%s/%s", dir, RT_SPEC_FILE);
    if (access(path, F_OK) != 0)
        return BE_NOTFOUND;
    pid_t pid = 0;
    unsigned long long start = 0;
    time_t started = 0;
    bool have_pid = rt_pidfile_read(dir, RT_PID_FILE, &pid, &start, &started) == 0;
    struct rt_exit e;
    st->pid = have_pid ? pid : 0;
    if (rt_exit_read(dir, &e) == 0) {
        fill_exit(st, &e);
        return 0;
    }
    st->started_at = started;
    if (have_pid && rt_proc_alive(pid, start)) {
        st->phase = RT_RUNNING;
    } else if (shim_alive(dir)) {
        /* no pid yet: starting; pid gone: exited, the record is coming */
        st->phase = have_pid ? RT_RUNNING : RT_CREATED;
    } else if (rt_exit_read(dir, &e) == 0) {
        fill_exit(st, &e); /* the shim finished between our two looks */
    } else {
        st->phase = RT_UNKNOWN;
        snprintf(st->reason, sizeof st->reason, "Unknown");
        snprintf(st->message, sizeof st->message, "the shim exited without an exit record");
    }
    return 0;
}

static void kill_container(struct rt_linux *L, const char *dir, const struct rt_spec *s)
{
    pid_t pid;
    unsigned long long start;
    if (rt_pidfile_read(dir, RT_PID_FILE, &pid, &start, NULL) == 0 &&
        rt_proc_alive(pid, start))
        kill(s->isolated ? pid : -pid, SIGKILL);
    if (s->isolated && s->cg.version)
        rt_cg_kill_all(&s->cg);
}

static int rt_stop(rt_t *rt, const char *id, int grace_seconds)
{
    struct rt_linux *L = impl(rt);
    char dir[PATH_MAX], path[PATH_MAX + 16], val[32];
    struct rt_exit e;
    if (rt_state_path(L, id, dir, sizeof dir) != 0 || access(dir, F_OK) != 0)
        return BE_NOTFOUND;
    if (rt_exit_read(dir, &e) == 0)
        return 0;
    snprintf(path, sizeof path, "%s/%s", dir, RT_STOP_FILE);
    int n = snprintf(val, sizeof val, "%d\n", grace_seconds < 0 ? 0 : grace_seconds);
    if (rt_write_atomic(path, val, (size_t)n) != 0)
        return BE_IO;
    pid_t shim;
    unsigned long long start;
    if (rt_pidfile_read(dir, RT_SHIMPID_FILE, &shim, &start, NULL) == 0 && start &&
        rt_proc_alive(shim, start)) {
        kill(shim, SIGTERM);
        return 0;
    }
    struct rt_spec s; /* no shim to enforce the grace: kill now */
    if (rt_spec_read(dir, &s) == 0) {
        kill_container(L, dir, &s);
        rt_spec_free(&s);
    }
    return 0;
}

/* Kills what is left and waits for the shim so nobody writes into dir. */
static void reap_shim(struct rt_linux *L, const char *dir, const struct rt_spec *s)
{
    pid_t shim;
    unsigned long long start;
    struct rt_exit e;
    if (rt_exit_read(dir, &e) != 0)
        kill_container(L, dir, s);
    if (rt_pidfile_read(dir, RT_SHIMPID_FILE, &shim, &start, NULL) != 0 || !start)
        return;
    int64_t deadline = mono_ms() + WAIT_SHIM_MS;
    while (rt_proc_alive(shim, start) && mono_ms() < deadline)
        usleep(5 * 1000);
    if (rt_proc_alive(shim, start)) {
        log_warn(RT_COMP, "shim %d of %s did not exit: killing it", (int)shim, s->id);
        kill(shim, SIGKILL);
    }
}

static void cg_parent(const struct rt_cgroup *c, struct rt_cgroup *p)
{
    *p = *c;
    char *dirs[3] = {p->cpu, p->cpuacct, p->memory};
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(dirs[i], '/');
        if (slash)
            *slash = '\0';
    }
}

static int rt_remove(rt_t *rt, const char *id)
{
    struct rt_linux *L = impl(rt);
    char dir[PATH_MAX];
    struct rt_spec s;
    if (rt_state_path(L, id, dir, sizeof dir) != 0 || access(dir, F_OK) != 0)
        return BE_NOTFOUND;
    bool have_spec = rt_spec_read(dir, &s) == 0;
    if (have_spec)
        reap_shim(L, dir, &s);
    int rc = rt_umount_under(dir);
    if (rc == 0)
        rc = rt_rm_rf(dir);
    if (rc != 0)
        log_warn(RT_COMP, "cannot remove %s completely", dir);
    if (have_spec && s.isolated && s.cg.version) {
        struct rt_cgroup pod;
        if (rt_cg_remove(&s.cg, 2000) != 0)
            log_warn(RT_COMP, "cgroup of %s still busy", id);
        cg_parent(&s.cg, &pod);
        rt_cg_remove(&pod, 0); /* fails while other containers of the pod exist */
    }
    if (have_spec)
        rt_spec_free(&s);
    return rc;
}

static int rt_list(rt_t *rt, struct rt_found **out, size_t *n)
{
    struct rt_linux *L = impl(rt);
    *out = NULL;
    *n = 0;
    DIR *d = opendir(L->state_dir);
    if (!d)
        return errno == ENOENT ? 0 : BE_IO;
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        char dir[PATH_MAX];
        struct rt_spec s;
        if (de->d_name[0] == '.' || rt_state_path(L, de->d_name, dir, sizeof dir) != 0 ||
            rt_spec_read(dir, &s) != 0)
            continue;
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct rt_found *g = realloc(*out, ncap * sizeof *g);
            if (!g) {
                rt_spec_free(&s);
                rc = BE_NOMEM;
                break;
            }
            *out = g;
            cap = ncap;
        }
        struct rt_found *f = &(*out)[(*n)++];
        memset(f, 0, sizeof *f);
        snprintf(f->id, sizeof f->id, "%s", de->d_name);
        snprintf(f->pod_uid, sizeof f->pod_uid, "%s", s.pod_uid);
        snprintf(f->container, sizeof f->container, "%s", s.container);
        f->attempt = s.attempt;
        rt_spec_free(&s);
    }
    closedir(d);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int rt_remove_pod(rt_t *rt, const char *pod_uid)
{
    struct rt_linux *L = impl(rt);
    char path[PATH_MAX];
    if (!rt_safe_name(pod_uid))
        return BE_INVAL;
    struct rt_found *f;
    size_t n;
    int rc = rt_list(rt, &f, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (strcmp(f[i].pod_uid, pod_uid) == 0)
            rt_remove(rt, f[i].id);
    free(f);
    snprintf(path, sizeof path, "%s/%s", L->log_dir, pod_uid);
    if (rt_rm_rf(path) != 0)
        rc = BE_IO;
    if (rt->isolated) {
        struct rt_cgroup pod;
        rt_cg_pod(&L->roots, pod_uid, &pod);
        if (rt_cg_remove(&pod, 1000) != 0) {
            log_warn(RT_COMP, "pod cgroup %s still busy", pod.memory);
            rc = rc ? rc : BE_IO;
        }
    }
    return rc;
}

static int rt_log_path(rt_t *rt, const char *id, char *buf, size_t len)
{
    char dir[PATH_MAX];
    struct rt_spec s;
    if (rt_state_path(impl(rt), id, dir, sizeof dir) != 0 || rt_spec_read(dir, &s) != 0)
        return BE_NOTFOUND;
    int rc = snprintf(buf, len, "%s", s.log_path) >= (int)len ? BE_TOOBIG : 0;
    rt_spec_free(&s);
    return rc;
}

static int rt_usage(rt_t *rt, const char *pod_uid, struct rt_usage *u)
{
    memset(u, 0, sizeof *u);
    if (!rt->isolated)
        return BE_UNAVAIL;
    if (!rt_safe_name(pod_uid))
        return BE_INVAL;
    struct rt_cgroup pod;
    rt_cg_pod(&impl(rt)->roots, pod_uid, &pod);
    return rt_cg_usage(&pod, u);
}

static void rt_close(rt_t *rt)
{
    struct rt_linux *L = impl(rt);
    if (L->isolated)
        rt_statefs_release(L->state_dir);
    free(L->state_dir);
    free(L->log_dir);
    free(L->image_dir);
    free(L->shim_path);
    free(L);
    free(rt);
}

static const struct rt_ops linux_ops = {
    .start = rt_start, .stop = rt_stop, .status = rt_status, .remove = rt_remove,
    .remove_pod = rt_remove_pod, .list = rt_list, .log_path = rt_log_path,
    .exec_sync = rt_linux_exec_sync, .usage = rt_usage, .close = rt_close,
};

int rt_linux_open(const struct rt_config *cfg, rt_t **out, char *err, size_t errlen)
{
    static bool told;
    *out = NULL;
    if (!cfg || !cfg->state_dir || !cfg->log_dir || !cfg->image_dir || !cfg->shim_path) {
        snprintf(err, errlen, "runtime: state, log and image dirs and the shim are required");
        return BE_INVAL;
    }
    if (access(cfg->shim_path, X_OK) != 0) {
        snprintf(err, errlen, "runtime: shim %s is not executable", cfg->shim_path);
        return BE_INVAL;
    }
    if (rt_mkdir_p(cfg->state_dir, 0700) != 0 || rt_mkdir_p(cfg->log_dir, 0755) != 0) {
        snprintf(err, errlen, "runtime: cannot create %s or %s: %s", cfg->state_dir,
                 cfg->log_dir, strerror(errno));
        return BE_IO;
    }
    rt_t *rt = calloc(1, sizeof *rt);
    struct rt_linux *L = calloc(1, sizeof *L);
    if (!rt || !L)
        goto err_nomem;
    L->state_dir = realpath(cfg->state_dir, NULL);
    L->log_dir = realpath(cfg->log_dir, NULL);
    L->image_dir = realpath(cfg->image_dir, NULL);
    if (!L->image_dir) /* may appear later */
        L->image_dir = strdup(cfg->image_dir);
    L->shim_path = strdup(cfg->shim_path);
    if (!L->state_dir || !L->log_dir || !L->image_dir || !L->shim_path)
        goto err_nomem;
    L->log_max_bytes = cfg->log_max_bytes ? cfg->log_max_bytes : 10 * 1024 * 1024;
    L->log_max_files = cfg->log_max_files > 0 ? cfg->log_max_files : 3;
    char why[512] = "not running as root";
    const char *parent = cfg->cgroup_parent && *cfg->cgroup_parent ? cfg->cgroup_parent
                                                                    : "berth";
    L->isolated = geteuid() == 0 && rt_cg_detect(parent, &L->roots, why, sizeof why) == 0;
    if (!L->isolated && !told) {
        told = true;
        log_warn(RT_COMP, "running containers as plain processes: %s", why);
    }
    if (L->isolated)
        rt_statefs_setup(L->state_dir);
    rt->ops = &linux_ops;
    rt->isolated = L->isolated;
    rt->impl = L;
    *out = rt;
    return 0;
err_nomem:
    if (L) {
        free(L->state_dir);
        free(L->log_dir);
        free(L->image_dir);
        free(L->shim_path);
    }
    free(L);
    free(rt);
    snprintf(err, errlen, "runtime: out of memory");
    return BE_NOMEM;
}
