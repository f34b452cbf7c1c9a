/* test_runtime.c: drives the real Linux runtime (agent/runtime_linux.c and
 * the shim) against a temporary state, log and image directory, with a
 * busybox image made by scripts/make-busybox-image.sh.
 *
 * This binary is its own shim: with argv[1] == "shim" it runs rt_shim_main,
 * and the runtime is opened with shim_path = /proc/self/exe. It needs root
 * (namespaces, cgroups, mounts) and prints "SKIP: needs root" otherwise.
 * Every wait polls a condition with a deadline. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/runtime.h"
#include "common/errors.h"
#include "unit.h"

static char tmp_root[PATH_MAX], state_dir[PATH_MAX], log_dir[PATH_MAX], image_dir[PATH_MAX];
static char shim_path[PATH_MAX], cg_parent[64];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static rt_t *open_rt(size_t log_max, int log_files)
{
    struct rt_config cfg = {.state_dir = state_dir, .log_dir = log_dir,
                            .image_dir = image_dir, .shim_path = shim_path,
                            .log_max_bytes = log_max, .log_max_files = log_files,
                            .cgroup_parent = cg_parent};
    rt_t *rt = NULL;
    char err[256] = "";
    int rc = rt_linux_open(&cfg, &rt, err, sizeof err);
    CHECK_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "rt_linux_open: %s\n", err);
    return rt;
}

static struct rt_container_spec spec(const char *uid, const char *name, const char *image,
                                     char *const *argv)
{
    struct rt_container_spec s = {.pod_uid = uid, .pod_namespace = "default",
                                  .pod_name = "mypod", .container = name, .image = image,
                                  .argv = argv, .hostname = "mypod"};
    return s;
}

static int start(rt_t *rt, const struct rt_container_spec *s, char id[RT_ID_MAX])
{
    char err[256] = "";
    int rc = rt->ops->start(rt, s, id, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "start %s: %s (%s)\n", s->container, be_strerror(rc), err);
    return rc;
}

/* Polls until the container reaches phase (or the deadline passes). */
static bool wait_phase(rt_t *rt, const char *id, enum rt_phase phase, double secs,
                       struct rt_status *st)
{
    double end = now_s() + secs;
    do {
        if (rt->ops->status(rt, id, st) == 0 && st->phase == phase)
            return true;
        usleep(10 * 1000);
    } while (now_s() < end);
    fprintf(stderr, "%s: phase %d, waited for %d\n", id, st->phase, phase);
    return false;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return strdup("");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static char *log_of(rt_t *rt, const char *id)
{
    char path[PATH_MAX];
    if (rt->ops->log_path(rt, id, path, sizeof path) != 0)
        return strdup("");
    return slurp(path);
}

static bool wait_log(rt_t *rt, const char *id, const char *text, double secs)
{
    double end = now_s() + secs;
    do {
        char *log = log_of(rt, id);
        bool found = strstr(log, text) != NULL;
        free(log);
        if (found)
            return true;
        usleep(10 * 1000);
    } while (now_s() < end);
    return false;
}

/* The shim is this (sanitized) binary: it must have exited cleanly. */
static void check_shim_log(const char *id)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s/shim.log", state_dir, id);
    char *text = slurp(path);
    CHECK(strstr(text, "Sanitizer") == NULL);
    if (strstr(text, "Sanitizer"))
        fprintf(stderr, "shim log of %s:\n%s\n", id, text);
    free(text);
}

static void spec_string(const char *id, const char *key, char *out, size_t len)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s/spec.json", state_dir, id);
    json_t *o = json_load_file(path, 0, NULL);
    const char *s = json_string_value(json_object_get(o, key));
    snprintf(out, len, "%s", s ? s : "");
    json_decref(o);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* The runtime's parent cgroups (OWN/berth-test-PID), seen in a container spec. */
static char cg_roots[3][PATH_MAX];

static void note_cgroup_roots(const char *id)
{
    static const char *const keys[3] = {"cgroup_cpu", "cgroup_cpuacct", "cgroup_memory"};
    for (int i = 0; i < 3; i++) {
        spec_string(id, keys[i], cg_roots[i], PATH_MAX);
        for (int up = 0; up < 2; up++) {
            char *slash = strrchr(cg_roots[i], '/');
            if (slash)
                *slash = '\0';
        }
    }
}

static void remove_cgroup_roots(void)
{
    for (int i = 0; i < 3; i++)
        if (cg_roots[i][0] && rmdir(cg_roots[i]) != 0 && errno != ENOENT)
            CHECK(!exists(cg_roots[i]));
}

static bool mounted_below(const char *prefix)
{
    char *mi = slurp("/proc/self/mountinfo");
    bool found = strstr(mi, prefix) != NULL;
    free(mi);
    return found;
}

static void test_output_and_exit(void)
{
    rt_t *rt = open_rt(0, 0);
    char *argv[] = {"sh", "-c", "echo hello; echo oops >&2; exit 3", NULL};
    struct rt_container_spec s = spec("pod-a", "main", "busybox", argv);
    char id[RT_ID_MAX];
    struct rt_status st;
    CHECK_INT(start(rt, &s, id), 0);
    CHECK_STR(id, "pod-a-main-0");
    CHECK(wait_phase(rt, id, RT_EXITED, 10, &st));
    CHECK_INT(st.exit_code, 3);
    CHECK_STR(st.reason, "Error");
    CHECK(st.finished_at >= st.started_at && st.started_at > 0);
    char *log = log_of(rt, id);
    CHECK(strstr(log, "hello\n") != NULL);
    CHECK(strstr(log, "oops\n") != NULL);
    free(log);
    check_shim_log(id);
    /* The same id again is refused while the old one exists. */
    char err[256];
    CHECK_INT(rt->ops->start(rt, &s, id, err, sizeof err), BE_EXISTS);
    CHECK_INT(rt->ops->remove_pod(rt, "pod-a"), 0);
    CHECK_INT(rt->ops->status(rt, "pod-a-main-0", &st), BE_NOTFOUND);
    rt->ops->close(rt);
}

static void test_not_found_and_bad_image(void)
{
    rt_t *rt = open_rt(0, 0);
    char *argv[] = {"nosuch", NULL};
    struct rt_container_spec s = spec("pod-b", "main", "busybox", argv);
    char id[RT_ID_MAX], err[256] = "";
    struct rt_status st;
    CHECK_INT(start(rt, &s, id), 0);
    CHECK(wait_phase(rt, id, RT_EXITED, 10, &st));
    CHECK_INT(st.exit_code, 127);
    CHECK_STR(st.reason, "ContainerCannotRun");
    CHECK(strstr(st.message, "exec: \"nosuch\": executable file not found") != NULL);
    check_shim_log(id);

    s = spec("pod-b", "other", "nope", argv);
    CHECK_INT(rt->ops->start(rt, &s, id, err, sizeof err), BE_NOTFOUND);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "image \"nope\" not found in %s", image_dir);
    CHECK_STR(err, want);
    s = spec("../x", "main", "busybox", argv);
    CHECK_INT(rt->ops->start(rt, &s, id, err, sizeof err), BE_INVAL);
    CHECK_INT(rt->ops->remove_pod(rt, "pod-b"), 0);
    rt->ops->close(rt);
}

static void test_namespaces_and_overlay(void)
{
    rt_t *rt = open_rt(0, 0);
    CHECK(rt->isolated);
    char *argv[] = {"sh", "-c",
                    "echo pid=$$; echo host=$(hostname); echo hi > /created; "
                    "echo env=$FOO; pwd; ls /proc/1/exe >/dev/null && echo proc-ok",
                    NULL};
    char *env[] = {"FOO=bar", NULL};
    struct rt_container_spec s = spec("pod-c", "main", "busybox", argv);
    s.env = env;
    s.working_dir = "/tmp";
    char id[RT_ID_MAX];
    struct rt_status st;
    CHECK_INT(start(rt, &s, id), 0);
    CHECK(wait_phase(rt, id, RT_EXITED, 10, &st));
    CHECK_INT(st.exit_code, 0);
    CHECK_STR(st.reason, "Completed");
    char *log = log_of(rt, id);
    CHECK(strstr(log, "pid=1\n") != NULL);
    CHECK(strstr(log, "host=mypod\n") != NULL);
    CHECK(strstr(log, "env=bar\n") != NULL);
    CHECK(strstr(log, "/tmp\n") != NULL);
    CHECK(strstr(log, "proc-ok\n") != NULL);
    free(log);
    char path[PATH_MAX + 32], upper[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/busybox/created", image_dir);
    CHECK(!exists(path)); /* the write went to the overlay's upper layer */
    /* ... which is a tmpfs of the container's own: nothing on the host */
    snprintf(upper, sizeof upper, "%s/%s/upper", state_dir, id);
    CHECK(!exists(upper));

    /* Image "host": still a new PID namespace, and /proc does not leak out. */
    char *argv2[] = {"/bin/sh", "-c", "echo pid=$$", NULL};
    s = spec("pod-c", "hostimg", "host", argv2);
    CHECK_INT(start(rt, &s, id), 0);
    CHECK(wait_phase(rt, id, RT_EXITED, 10, &st));
    CHECK_INT(st.exit_code, 0);
    log = log_of(rt, id);
    CHECK(strstr(log, "pid=1\n") != NULL);
    free(log);
    CHECK_INT(rt->ops->remove_pod(rt, "pod-c"), 0);
    rt->ops->close(rt); /* no container left: the state tmpfs goes too */
    CHECK(!mounted_below(tmp_root));
}

static void test_cpu_quota_and_stop_grace(void)
{
    rt_t *rt = open_rt(0, 0);
    char *argv[] = {"sleep", "60", NULL}; /* pid 1: ignores SIGTERM */
    struct rt_container_spec s = spec("pod-d", "main", "busybox", argv);
    s.cpu_limit_millis = 500;
    s.cpu_request_millis = 250;
    s.mem_limit_bytes = 64 << 20;
    char id[RT_ID_MAX], cg[PATH_MAX], path[PATH_MAX + 32];
    struct rt_status st;
    CHECK_INT(start(rt, &s, id), 0);
    CHECK(wait_phase(rt, id, RT_RUNNING, 10, &st));
    spec_string(id, "cgroup_cpu", cg, sizeof cg);
    note_cgroup_roots(id);
    snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", cg);
    if (exists(path)) {
        char *q = slurp(path);
        CHECK_STR(q, "50000\n");
        free(q);
        snprintf(path, sizeof path, "%s/cpu.shares", cg);
        q = slurp(path);
        CHECK_STR(q, "256\n");
        free(q);
    } else {
        snprintf(path, sizeof path, "%s/cpu.max", cg);
        char *q = slurp(path);
        CHECK_STR(q, "50000 100000\n");
        free(q);
    }
    struct rt_usage u;
    CHECK_INT(rt->ops->usage(rt, "pod-d", &u), 0);
    CHECK(u.memory_bytes > 0);

    double t0 = now_s();
    CHECK_INT(rt->ops->stop(rt, id, 1), 0);
    CHECK(wait_phase(rt, id, RT_EXITED, 10, &st));
    double took = now_s() - t0;
    CHECK(took >= 0.9 && took < 5);
    CHECK_INT(st.signal, 9);
    CHECK_INT(st.exit_code, 137);
    CHECK(!st.oom_killed);
    check_shim_log(id);
    CHECK_INT(rt->ops->remove(rt, id), 0);
    CHECK(!exists(cg));
    CHECK_INT(rt->ops->remove_pod(rt, "pod-d"), 0);
    rt->ops->close(rt);
}

static void test_stop_handled_term(void)
{
    rt_t *rt = open_rt(0, 0);
    char *argv[] = {"sh", "-c", "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done",
                    NULL};
    struct rt_container_spec s = spec("pod-e", "main", "busybox", argv);
    char id[RT_ID_MAX];
    struct rt_status st;
    CHECK_INT(start(rt, &s, id), 0);
    CHECK(wait_phase(rt, id, RT_RUNNING, 10, &st));
    CHECK(wait_log(rt, id, "ready\n", 10)); /* the trap is in place */
    double t0 = now_s();
    CHECK_INT(rt->ops->stop(rt, id, 30), 0);
    CHECK(wait_phase(rt, id, RT_EXITED, 10, &st));
    CHECK(now_s() - t0 < 5);
    CHECK_INT(st.exit_code, 0);
    char *log = log_of(rt, id);
    CHECK(strstr(log, "bye\n") != NULL);
    free(log);
    CHECK_INT(rt->ops->remove_pod(rt, "pod-e"), 0);
    rt->ops->close(rt);
}

static void test_oom_killed(void)
{
    rt_t *rt = open_rt(0, 0);
    /* tail keeps the whole newline-free input in memory. */
    char *argv[] = {"sh", "-c", "head -c 300m /dev/zero | tail >/dev/null", NULL};
    struct rt_container_spec s = spec("pod-f", "main", "busybox", argv);
    s.mem_limit_bytes = 32 << 20;
    char id[RT_ID_MAX];
    struct rt_status st;
    CHECK_INT(start(rt, &s, id), 0);
    CHECK(wait_phase(rt, id, RT_EXITED, 30, &st));
    CHECK(st.oom_killed);
    CHECK_STR(st.reason, "OOMKilled");
    CHECK(st.exit_code != 0);
    check_shim_log(id);
    CHECK_INT(rt->ops->remove_pod(rt, "pod-f"), 0);
    rt->ops->close(rt);
}

static void test_log_rotation(void)
{
    rt_t *rt = open_rt(1000, 2);
    char *argv[] = {"sh", "-c",
                    "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done", NULL};
    struct rt_container_spec s = spec("pod-g", "main", "busybox", argv);
    char id[RT_ID_MAX], path[PATH_MAX], p1[PATH_MAX + 8], p2[PATH_MAX + 8], p3[PATH_MAX + 8];
    struct rt_status st;
    CHECK_INT(start(rt, &s, id), 0);
    CHECK(wait_phase(rt, id, RT_EXITED, 10, &st));
    CHECK_INT(rt->ops->log_path(rt, id, path, sizeof path), 0);
    snprintf(p1, sizeof p1, "%s.1", path);
    snprintf(p2, sizeof p2, "%s.2", path);
    snprintf(p3, sizeof p3, "%s.3", path);
    CHECK(exists(p1) && exists(p2) && !exists(p3));
    struct stat sb;
    const char *all[] = {path, p1, p2};
    for (int i = 0; i < 3; i++)
        CHECK(stat(all[i], &sb) == 0 && sb.st_size <= 1000);
    char *cur = slurp(path), *prev = slurp(p1);
    CHECK(strstr(cur, "line-299\n") != NULL);
    size_t cl = strlen(cur), pl = strlen(prev);
    CHECK(cl > 0 && cur[cl - 1] == '\n' && pl > 0 && prev[pl - 1] == '\n');
    if (!(cl > 0 && cur[cl - 1] == '\n' && pl > 0 && prev[pl - 1] == '\n'))
        fprintf(stderr, "current:\n%s\nprevious:\n%s\n", cur, prev);
    free(cur);
    free(prev);
    CHECK_INT(rt->ops->remove_pod(rt, "pod-g"), 0);
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/pod-g", log_dir);
    CHECK(!exists(dir));
    rt->ops->close(rt);
}

static bool find(const struct rt_found *f, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].id, id) == 0)
            return true;
    return false;
}

static void test_adopt_exec_and_cleanup(void)
{
    rt_t *rt = open_rt(0, 0);
    char *argv[] = {"sleep", "60", NULL};
    struct rt_container_spec s = spec("pod-h", "web", "busybox", argv);
    char id1[RT_ID_MAX], id2[RT_ID_MAX], cg[PATH_MAX], pod_cg[PATH_MAX];
    struct rt_status st;
    s.mem_limit_bytes = 64 << 20;
    CHECK_INT(start(rt, &s, id1), 0);
    s.container = "side";
    s.attempt = 2;
    s.image = "host";
    CHECK_INT(start(rt, &s, id2), 0);
    CHECK_STR(id2, "pod-h-side-2");
    CHECK(wait_phase(rt, id1, RT_RUNNING, 10, &st));
    int pid1 = st.pid;
    CHECK(wait_phase(rt, id2, RT_RUNNING, 10, &st));
    spec_string(id1, "cgroup_memory", cg, sizeof cg);
    snprintf(pod_cg, sizeof pod_cg, "%s", cg);
    *strrchr(pod_cg, '/') = '\0';
    /* container state is kept in a tmpfs, which outlives the agent as the
     * containers do */
    char *mi = slurp("/proc/self/mountinfo"), needle[PATH_MAX + 16];
    snprintf(needle, sizeof needle, " %s ", state_dir);
    CHECK(strstr(mi, needle) != NULL && strstr(strstr(mi, needle), " tmpfs ") != NULL);
    free(mi);
    rt->ops->close(rt); /* "agent restart" */
    CHECK(mounted_below(state_dir));

    rt = open_rt(0, 0);
    struct rt_found *f = NULL;
    size_t n = 0;
    CHECK_INT(rt->ops->list(rt, &f, &n), 0);
    CHECK(find(f, n, id1) && find(f, n, id2));
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].id, id2) == 0) {
            CHECK_STR(f[i].pod_uid, "pod-h");
            CHECK_STR(f[i].container, "side");
            CHECK_INT(f[i].attempt, 2);
        }
    free(f);
    CHECK(rt->ops->status(rt, id1, &st) == 0 && st.phase == RT_RUNNING && st.pid == pid1);

    char out[512];
    char *probe[] = {"sh", "-c", "echo pid=$$ host=$(hostname); test -e /bin/busybox", NULL};
    int rc = rt->ops->exec_sync(rt, id1, probe, 5000, out, sizeof out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "host=mypod") != NULL && strstr(out, "pid=1 ") == NULL);
    char *fail[] = {"sh", "-c", "exit 4", NULL};
    CHECK_INT(rt->ops->exec_sync(rt, id1, fail, 5000, out, sizeof out), 4);
    char *missing[] = {"nosuch", NULL};
    CHECK_INT(rt->ops->exec_sync(rt, id1, missing, 5000, out, sizeof out), 127);
    char *slow[] = {"sleep", "5", NULL};
    double t0 = now_s();
    CHECK_INT(rt->ops->exec_sync(rt, id1, slow, 300, out, sizeof out), BE_TIMEOUT);
    CHECK(now_s() - t0 < 2);

    CHECK_INT(rt->ops->remove_pod(rt, "pod-h"), 0);
    CHECK(!exists(cg) && !exists(pod_cg));
    char sdir[PATH_MAX + 64];
    snprintf(sdir, sizeof sdir, "%s/%s", state_dir, id1);
    CHECK(!exists(sdir));
    CHECK(!mounted_below(sdir));
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%d", pid1);
    double end = now_s() + 5;
    while (exists(proc) && now_s() < end)
        usleep(10 * 1000);
    CHECK(!exists(proc));
    rt->ops->close(rt);
    CHECK(!mounted_below(tmp_root));
}

/* As an unprivileged user the runtime runs plain processes through the shim. */
static void plain_mode(void)
{
    char plain[PATH_MAX + 16];
    snprintf(plain, sizeof plain, "%s/plain", tmp_root);
    snprintf(state_dir, sizeof state_dir, "%s/state", plain);
    snprintf(log_dir, sizeof log_dir, "%s/logs", plain);
    rt_t *rt = open_rt(0, 0);
    if (!rt)
        return;
    CHECK(!rt->isolated);
    char *argv[] = {"/bin/sh", "-c", "echo plain-ok; exit 5", NULL};
    struct rt_container_spec s = spec("pod-p", "main", "host", argv);
    char id[RT_ID_MAX], out[256];
    struct rt_status st;
    CHECK_INT(start(rt, &s, id), 0);
    CHECK(wait_phase(rt, id, RT_EXITED, 10, &st));
    CHECK_INT(st.exit_code, 5);
    char *log = log_of(rt, id);
    CHECK(strstr(log, "plain-ok\n") != NULL);
    free(log);
    char *sleeper[] = {"/bin/sleep", "60", NULL};
    s = spec("pod-p", "sleeper", "host", sleeper);
    CHECK_INT(start(rt, &s, id), 0);
    CHECK(wait_phase(rt, id, RT_RUNNING, 10, &st));
    char *probe[] = {"echo", "hi", NULL};
    CHECK_INT(rt->ops->exec_sync(rt, id, probe, 5000, out, sizeof out), 0);
    CHECK_STR(out, "hi\n");
    CHECK_INT(rt->ops->stop(rt, id, 10), 0);
    CHECK(wait_phase(rt, id, RT_EXITED, 5, &st));
    CHECK_INT(st.signal, 15);
    CHECK_INT(rt->ops->remove_pod(rt, "pod-p"), 0);
    rt->ops->close(rt);
}

static void test_plain_processes(void)
{
    char plain[PATH_MAX + 16];
    snprintf(plain, sizeof plain, "%s/plain", tmp_root);
    CHECK_INT(mkdir(plain, 0777), 0);
    CHECK_INT(chmod(plain, 0777), 0);
    CHECK_INT(chmod(tmp_root, 0755), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(3);
        plain_mode();
        fflush(NULL);
        _exit(unit_failures ? 1 : 0);
    }
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int setup(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/berth-rt-XXXXXX");
    if (!mkdtemp(tmp_root))
        return -1;
    snprintf(state_dir, sizeof state_dir, "%s/state", tmp_root);
    snprintf(log_dir, sizeof log_dir, "%s/logs", tmp_root);
    snprintf(image_dir, sizeof image_dir, "%s/images", tmp_root);
    snprintf(cg_parent, sizeof cg_parent, "berth-test-%d", (int)getpid());
    if (!realpath("/proc/self/exe", shim_path))
        return -1;
    /* __FILE__ is tests/unit/test_runtime.c under the source tree. */
    char script[PATH_MAX + 64], cmd[3 * PATH_MAX];
    snprintf(script, sizeof script, "%s", __FILE__);
    char *cut = strstr(script, "tests/unit/test_runtime.c");
    if (!cut)
        return -1;
    snprintf(cut, sizeof script - (size_t)(cut - script), "scripts/make-busybox-image.sh");
    snprintf(cmd, sizeof cmd, "sh '%s' '%s'", script, image_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "shim") == 0)
        return rt_shim_main(argc, argv);
    if (geteuid() != 0) {
        printf("SKIP: needs root\n");
        return 0;
    }
    if (setup() != 0) {
        fprintf(stderr, "setup failed: %s\n", strerror(errno));
        return 1;
    }
    RUN(test_output_and_exit);
    RUN(test_not_found_and_bad_image);
    RUN(test_namespaces_and_overlay);
    RUN(test_cpu_quota_and_stop_grace);
    RUN(test_stop_handled_term);
    RUN(test_oom_killed);
    RUN(test_log_rotation);
    RUN(test_adopt_exec_and_cleanup);
    RUN(test_plain_processes);
    remove_cgroup_roots();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (!mounted_below(tmp_root) && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    UNIT_EXIT();
}
