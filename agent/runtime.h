/* runtime.h: how the agent runs containers, behind a struct of function
 * pointers (as raft's struct raft_io) so the agent's logic can be tested with
 * a fake runtime and the real launcher can be swapped for another driver.
 *
 * The real runtime (runtime_linux.c) starts each container through a small
 * shim process (the agent binary re-executed as `berth-agent shim ...`,
 * detached with setsid so it outlives an agent restart). The shim creates the
 * container with clone(): new PID, mount, UTS and IPC namespaces, hostname =
 * pod name, a cgroup per pod (v2, or v1 where the host has v1) enforcing the
 * cpu and memory limits, an overlay root filesystem over the image directory
 * (image "host" = the host's filesystem), env, argv and working dir. It pumps
 * stdout/stderr into the container's log file (size cap + rotation), waits
 * for the container, and records its exit (code, signal, OOM kill, times) in
 * the container's state directory before it exits. So the agent never needs
 * to be the parent of a container: status() reads the state directory, and
 * an agent restart finds every container again with list().
 *
 * Container ids are strings chosen by the runtime ("<pod uid>-<name>-<n>").
 * All functions run on the agent's loop thread and never block for long
 * (start forks the shim and returns; stop signals and returns). */
#ifndef BERTH_RUNTIME_H
#define BERTH_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RT_ID_MAX 160

struct rt_container_spec {
    const char *pod_uid;
    const char *pod_namespace;
    const char *pod_name;
    const char *container;     /* container name within the pod */
    int attempt;               /* restart count, part of the id */
    const char *image;         /* "host" or a directory name under image_dir */
    char *const *argv;         /* command + args, NULL-terminated, argv[0] required */
    char *const *env;          /* "KEY=VALUE", NULL-terminated; may be NULL */
    const char *working_dir;   /* NULL: "/" */
    const char *hostname;      /* pod name */
    int64_t cpu_limit_millis;  /* 0: unlimited */
    int64_t mem_limit_bytes;   /* 0: unlimited */
    int64_t cpu_request_millis;/* for cpu shares/weight; 0: default */
};

enum rt_phase {
    RT_CREATED = 0,   /* shim started, container not yet running */
    RT_RUNNING = 1,
    RT_EXITED = 2,
    RT_UNKNOWN = 3,   /* shim gone without a record (e.g. host reboot) */
};

struct rt_status {
    enum rt_phase phase;
    int pid;                   /* container init pid in the host pid ns */
    int exit_code;             /* RT_EXITED: 0..255, 128+signal if killed */
    int signal;                /* RT_EXITED: the killing signal or 0 */
    bool oom_killed;
    time_t started_at, finished_at;
    char reason[64];           /* "Completed", "Error", "OOMKilled",
                                  "ContainerCannotRun", "ErrImageNotFound" */
    char message[256];         /* e.g. "exec: \"nosuch\": not found" */
};

struct rt_usage {
    uint64_t cpu_usage_ns;     /* cumulative cpu time of the pod's cgroup */
    uint64_t memory_bytes;     /* current memory usage */
};

struct rt_found {
    char id[RT_ID_MAX];
    char pod_uid[64];
    char container[64];
    int attempt;
};

typedef struct rt rt_t;

struct rt_ops {
    /* Starts a container; *id_out gets its id. Returns 0, or BE_NOTFOUND
     * (image missing: message "image \"x\" not found in DIR"), BE_INVAL, BE_IO
     * with a message in err. A command that does not exist is not an error
     * here: the container exits 127 with a message (see rt_status). */
    int (*start)(rt_t *rt, const struct rt_container_spec *spec, char id_out[RT_ID_MAX],
                 char *err, size_t errlen);
    /* Asks a container to stop: SIGTERM now, SIGKILL after grace_seconds
     * (the shim enforces the deadline even if the agent dies meanwhile). */
    int (*stop)(rt_t *rt, const char *id, int grace_seconds);
    /* Current state, from the state directory and /proc. BE_NOTFOUND if the
     * id is unknown. */
    int (*status)(rt_t *rt, const char *id, struct rt_status *st);
    /* Removes an exited container: its state dir, mounts and cgroup (the
     * pod cgroup when it was the last container of the pod). A running one
     * is killed first. Its log files are kept until remove_pod. */
    int (*remove)(rt_t *rt, const char *id);
    /* Removes everything left of a pod (logs, pod cgroup). */
    int (*remove_pod)(rt_t *rt, const char *pod_uid);
    /* Every container the state directory knows (for adoption after an agent
     * restart). *out is malloc'd; the caller frees it. */
    int (*list)(rt_t *rt, struct rt_found **out, size_t *n);
    /* Path of the container's current log file (rotated ones are path.1,
     * path.2, ...). */
    int (*log_path)(rt_t *rt, const char *id, char *buf, size_t len);
    /* Runs argv inside the container's namespaces (exec probes). Returns the
     * exit code (>= 0), or a BE_* code; gives up after timeout_ms. This one
     * may block up to timeout_ms: the agent runs it off the loop. */
    int (*exec_sync)(rt_t *rt, const char *id, char *const *argv, int timeout_ms,
                     char *out, size_t outlen);
    /* Resource usage of the pod's cgroup (metrics). */
    int (*usage)(rt_t *rt, const char *pod_uid, struct rt_usage *u);
    void (*close)(rt_t *rt);
};

struct rt {
    const struct rt_ops *ops;
    bool isolated;             /* namespaces + cgroups in use */
    void *impl;
};

struct rt_config {
    const char *state_dir;     /* e.g. DATA_DIR/containers */
    const char *log_dir;       /* e.g. DATA_DIR/logs */
    const char *image_dir;     /* images: image_dir/NAME/ is a rootfs */
    const char *shim_path;     /* the agent binary, re-executed as the shim */
    size_t log_max_bytes;      /* 0: 10 MiB per file */
    int log_max_files;         /* 0: 3 rotated files kept */
    const char *cgroup_parent; /* 0: "berth" */
};

/* The real runtime. If not root or no usable cgroup hierarchy, it logs that
 * once and runs plain processes (rt->isolated == false). */
int rt_linux_open(const struct rt_config *cfg, rt_t **out, char *err, size_t errlen);

/* The shim's entry point: `berth-agent shim ARGS...` calls this from main. */
int rt_shim_main(int argc, char **argv);

#endif
