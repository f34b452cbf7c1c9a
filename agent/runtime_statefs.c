/* runtime_statefs.c: the container state directory lives in a tmpfs.
 *
 * Each container start creates a handful of small files under STATE_DIR/ID
 * (spec.json, pid, exit.json, stop) and the directory itself; each removal
 * deletes them. On ext4 without a journal (these machines) every inode
 * allocation skips the inodes deleted in the last minutes one by one
 * (ext4's recently_deleted() scan), so under pod churn a create cost
 * ~0.4 ms and more, and a burst of 100 pod starts spent most of its CPU
 * there (docs/benchmarks.md, pod start). State that only matters while the
 * machine is up belongs in memory, as runc keeps its state under /run:
 * when running isolated the runtime mounts a small tmpfs on STATE_DIR.
 *
 * The mount outlives the agent, like the containers it describes, so a
 * restarted agent finds them; after a reboot it is gone, and so are the
 * containers. A STATE_DIR that already holds entries on disk (an agent of
 * an older version left containers running) is kept as it is, so those
 * containers are not hidden. rt_statefs_release() unmounts the tmpfs when
 * no container is left in it. Logs stay on disk (logs/). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "agent/runtime_int.h"
#include "common/log.h"

#define STATEFS_OPTS "mode=0700,size=64m,nr_inodes=262144"

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = false;
    closedir(d);
    return empty;
}

/* A mount point: on another device than its parent (bind mounts of the
 * same fs are not made here, so the device test is enough). */
static bool is_mount_point(const char *path)
{
    char parent[PATH_MAX + 4];
    struct stat a, b;
    if (snprintf(parent, sizeof parent, "%s/..", path) >= (int)sizeof parent)
        return false;
    return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

void rt_statefs_setup(const char *state_dir)
{
    if (is_mount_point(state_dir))
        return; /* ours from an earlier run, or the operator's own */
    if (!dir_is_empty(state_dir)) {
        log_info(RT_COMP, "%s holds containers on disk: state stays there", state_dir);
        return;
    }
    if (mount("berth-state", state_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              STATEFS_OPTS) != 0)
        log_warn(RT_COMP, "cannot mount a tmpfs on %s (%s): container state stays on disk",
                 state_dir, strerror(errno));
}

void rt_statefs_release(const char *state_dir)
{
    if (is_mount_point(state_dir) && dir_is_empty(state_dir) &&
        umount2(state_dir, MNT_DETACH) != 0)
        log_warn(RT_COMP, "cannot unmount %s: %s", state_dir, strerror(errno));
}
