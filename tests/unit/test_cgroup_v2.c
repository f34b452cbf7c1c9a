/* test_cgroup_v2.c: the cgroup v2 side of runtime_cgroup.c against a fake
 * cgroupfs.
 *
 * The machines here boot cgroup v1 with every controller bound to a v1
 * hierarchy, so the kernel's v2 interface cannot be exercised for real
 * (test_runtime.c does v1 for real). This test points a v2 struct rt_cgroup
 * at a plain directory and checks what the runtime writes and how it reads,
 * with the file names and formats of the kernel's cgroup-v2 documentation:
 * cpu.max "QUOTA PERIOD", cpu.weight from shares as the kubelet converts
 * them, memory.max, memory.swap.max, the pod cgroup's subtree_control,
 * usage from cpu.stat usage_usec, memory.current minus memory.stat
 * inactive_file, OOM kills from memory.events oom_kill, and joining by
 * writing "0" to cgroup.procs. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/runtime_int.h"
#include "unit.h"

static char root[PATH_MAX];

static void put(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void expect(const char *dir, const char *file, const char *want)
{
    char path[PATH_MAX + 64], got[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    ssize_t n = rt_read_file(path, got, sizeof got);
    CHECK(n >= 0);
    if (n >= 0)
        CHECK_STR(got, want);
}

static void v2_cgroups(struct rt_cgroup *pod, struct rt_cgroup *ctr)
{
    struct rt_cgroup roots = {.version = 2};
    snprintf(roots.cpu, PATH_MAX, "%s/berth", root);
    snprintf(roots.cpuacct, PATH_MAX, "%s/berth", root);
    snprintf(roots.memory, PATH_MAX, "%s/berth", root);
    rt_cg_pod(&roots, "uid1", pod);
    rt_cg_child(pod, "uid1-main-0", ctr);
}

static void test_limits(void)
{
    struct rt_cgroup pod, ctr;
    v2_cgroups(&pod, &ctr);
    CHECK_STR(ctr.cpu, ctr.memory); /* one directory on v2 */
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/berth/pod-uid1/uid1-main-0", root);
    CHECK_STR(ctr.cpu, want);
    /* the kernel offers memory.swap.max only with swap accounting */
    CHECK_INT(rt_mkdir_p(ctr.memory, 0755), 0);
    put(ctr.memory, "memory.swap.max", "max\n");
    struct rt_spec s = {.cpu_limit_millis = 250, .cpu_request_millis = 500,
                        .mem_limit_bytes = 64 << 20};
    char err[256] = "";
    CHECK_INT(rt_cg_create(&ctr, &s, err, sizeof err), 0);
    expect(ctr.cpu, "cpu.max", "25000 100000");
    expect(ctr.cpu, "cpu.weight", "20"); /* 512 shares -> 1 + 510*9999/262142 */
    expect(ctr.memory, "memory.max", "67108864");
    expect(ctr.memory, "memory.swap.max", "0");
    expect(pod.cpu, "cgroup.subtree_control", "+cpu +memory");

    /* tiny and huge values are clamped to what the kernel accepts */
    struct rt_cgroup ctr2;
    rt_cg_child(&pod, "uid1-tiny-0", &ctr2);
    struct rt_spec tiny = {.cpu_limit_millis = 1, .cpu_request_millis = 1};
    CHECK_INT(rt_cg_create(&ctr2, &tiny, err, sizeof err), 0);
    expect(ctr2.cpu, "cpu.max", "1000 100000"); /* 1 ms is the kernel's minimum */
    expect(ctr2.cpu, "cpu.weight", "1");
    struct rt_spec huge = {.cpu_request_millis = 1000000};
    CHECK_INT(rt_cg_create(&ctr2, &huge, err, sizeof err), 0);
    expect(ctr2.cpu, "cpu.weight", "10000");
}

static void test_usage_and_oom(void)
{
    struct rt_cgroup pod, ctr;
    v2_cgroups(&pod, &ctr);
    CHECK_INT(rt_mkdir_p(pod.memory, 0755), 0);
    put(pod.cpu, "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
    put(pod.memory, "memory.current", "1000000\n");
    put(pod.memory, "memory.stat", "anon 700000\nfile 300000\ninactive_file 200000\n");
    struct rt_usage u;
    CHECK_INT(rt_cg_usage(&pod, &u), 0);
    CHECK_INT(u.cpu_usage_ns, 1500000);
    CHECK_INT(u.memory_bytes, 800000); /* the working set, as the kubelet's */
    put(pod.memory, "memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n");
    CHECK_INT(rt_cg_oom_kills(&pod), 2);

    struct rt_cgroup gone;
    rt_cg_pod(&pod, "nosuch", &gone);
    CHECK(rt_cg_usage(&gone, &u) < 0);
}

static void test_join(void)
{
    struct rt_cgroup pod, ctr;
    v2_cgroups(&pod, &ctr);
    CHECK_INT(rt_mkdir_p(ctr.cpu, 0755), 0);
    put(ctr.cpu, "cgroup.procs", "");
    pid_t pid = fork();
    if (pid == 0)
        _exit(rt_cg_join(&ctr) == 0 ? 0 : 1);
    int st = -1;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    expect(ctr.cpu, "cgroup.procs", "0"); /* "0" moves the writer itself */

    struct rt_cgroup missing;
    rt_cg_child(&pod, "not-created", &missing);
    CHECK(rt_cg_join(&missing) < 0);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/berth-cg2-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_limits);
    RUN(test_usage_and_oom);
    RUN(test_join);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return unit_failures ? 1 : 0;
}
