/* runtime_int.h: internals shared by the Linux runtime (runtime_*.c, run in
 * the agent) and the shim (shim*.c, run as `berth-agent shim DIR`).
 *
 * The two halves talk only through files in the container's state directory
 * STATE_DIR/ID/:
 *   spec.json   written by start(): everything the shim needs (struct rt_spec)
 *   shim.pid    "PID STARTTIME" of the shim, written by start()
 *   pid         "PID STARTTIME STARTED_AT" of the container, by the shim
 *   stop        grace seconds of a stop request, written by stop() before it
 *               sends SIGTERM to the shim
 *   exit.json   the exit record, written last by the shim (tmp + rename)
 *   rootfs/ upper/ work/   the overlay mount point and its layers
 * Process identity is always a pid plus its start time from /proc/PID/stat,
 * so a reused pid is never mistaken for ours. */
#ifndef BERTH_RUNTIME_INT_H
#define BERTH_RUNTIME_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "agent/runtime.h"

#define RT_COMP "runtime"
#define RT_SPEC_FILE "spec.json"
#define RT_SHIMPID_FILE "shim.pid"
#define RT_PID_FILE "pid"
#define RT_STOP_FILE "stop"
#define RT_EXIT_FILE "exit.json"
#define RT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Cgroup directories of one container (or the parents of all pods).
 * version 0: none; 1: one dir per v1 hierarchy; 2: all three equal. */
struct rt_cgroup {
    int version;
    char cpu[PATH_MAX];
    char cpuacct[PATH_MAX];
    char memory[PATH_MAX];
};

/* The container spec as the shim reads it back (owned strings). */
struct rt_spec {
    char *id, *pod_uid, *pod_name, *container, *image;
    char *rootfs;      /* image directory, or NULL for image "host" */
    char **argv;       /* NULL-terminated */
    char **env;        /* NULL-terminated, maybe empty */
    char *working_dir; /* never NULL */
    char *hostname;
    char *log_path;
    int attempt;
    int64_t cpu_limit_millis, mem_limit_bytes, cpu_request_millis;
    size_t log_max_bytes;
    int log_max_files;
    bool isolated;
    struct rt_cgroup cg; /* the container's own cgroup dirs */
};

/* The exit record. */
struct rt_exit {
    int exit_code, signal;
    bool oom_killed;
    time_t started_at, finished_at;
    char reason[64];
    char message[256];
};

/* runtime_state.c */
int rt_spec_write(const char *dir, const struct rt_spec *s);
int rt_spec_read(const char *dir, struct rt_spec *s);
void rt_spec_free(struct rt_spec *s);
int rt_exit_write(const char *dir, const struct rt_exit *e);
int rt_exit_read(const char *dir, struct rt_exit *e);
int rt_pidfile_write(const char *dir, const char *name, pid_t pid, unsigned long long start,
                     time_t started_at);
int rt_pidfile_read(const char *dir, const char *name, pid_t *pid, unsigned long long *start,
                    time_t *started_at);

/* runtime_util.c */
int rt_read_file(const char *path, char *buf, size_t len);   /* bytes read or BE_* */
int rt_write_file(const char *path, const char *data);       /* truncate + write */
int rt_write_atomic(const char *path, const char *data, size_t len);
int rt_mkdir_p(const char *path, mode_t mode);
int rt_rm_rf(const char *path);
int64_t rt_read_int(const char *path, int64_t dflt);
unsigned long long rt_proc_starttime(pid_t pid); /* 0: gone or zombie */
bool rt_proc_alive(pid_t pid, unsigned long long start);
int rt_umount_under(const char *prefix);          /* mounts at or below prefix */
bool rt_mounted_under(const char *prefix);
bool rt_safe_name(const char *s);
void rt_reset_signals(void); /* default dispositions, empty mask (before exec) */
int64_t rt_kv_read(const char *path, const char *key); /* "key N" lines; -1 */

/* runtime_cgroup.c */
int rt_cg_detect(const char *parent_name, struct rt_cgroup *roots, char *why, size_t len);
void rt_cg_pod(const struct rt_cgroup *roots, const char *pod_uid, struct rt_cgroup *out);
void rt_cg_child(const struct rt_cgroup *pod, const char *name, struct rt_cgroup *out);
int rt_cg_create(const struct rt_cgroup *cg, const struct rt_spec *s, char *err, size_t len);
int rt_cg_join(const struct rt_cgroup *cg); /* moves the caller; async-signal-safe */
int64_t rt_cg_oom_kills(const struct rt_cgroup *cg);
int rt_cg_usage(const struct rt_cgroup *cg, struct rt_usage *u);
int rt_cg_remove(const struct rt_cgroup *cg, int wait_ms);
int rt_cg_kill_all(const struct rt_cgroup *cg);

/* runtime_exec.c */
int rt_linux_exec_sync(rt_t *rt, const char *id, char *const *argv, int timeout_ms,
                       char *out, size_t outlen);

/* The runtime's own state, shared by runtime_linux.c and runtime_exec.c. */
struct rt_linux {
    char *state_dir, *log_dir, *image_dir, *shim_path;
    size_t log_max_bytes;
    int log_max_files;
    bool isolated;
    struct rt_cgroup roots; /* OWN_CGROUP/<cgroup_parent> per controller */
};
int rt_state_path(struct rt_linux *L, const char *id, char *buf, size_t len);

/* runtime_statefs.c: STATE_DIR on a tmpfs while running isolated. */
void rt_statefs_setup(const char *state_dir);
void rt_statefs_release(const char *state_dir); /* unmounts it once empty */

/* shim_log.c: a log file with a size cap and numbered rotation. */
struct rt_logw {
    char path[PATH_MAX];
    int fd;
    size_t size, max_bytes;
    int max_files;
};
int rt_logw_open(struct rt_logw *w, const char *path, size_t max_bytes, int max_files);
void rt_logw_write(struct rt_logw *w, const char *buf, size_t n);
void rt_logw_close(struct rt_logw *w);

/* shim_child.c: runs in the container process; never returns. status_fd
 * gets an error message if setup or exec fails. */
void rt_child_run(const struct rt_spec *s, const char *dir, int out_fd, int err_fd,
                  int status_fd) __attribute__((noreturn));

#endif
