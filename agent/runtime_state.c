/* runtime_state.c: the files of a container's state directory (see
 * runtime_int.h): spec.json and exit.json as JSON through jansson, pid files
 * as one line "PID STARTTIME STARTED_AT". Every write is atomic (tmp file +
 * rename) so a reader never sees half a record, even across a crash. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/runtime_int.h"
#include "common/errors.h"

static int path_in(char *buf, size_t len, const char *dir, const char *name)
{
    return snprintf(buf, len, "%s/%s", dir, name) >= (int)len ? BE_INVAL : 0;
}

static json_t *strv_to_json(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static char **json_to_strv(json_t *a)
{
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        v[i] = strdup(s ? s : "");
    }
    return v;
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static char *dupstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

static int dump_atomic(const char *dir, const char *name, json_t *o)
{
    char path[PATH_MAX];
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return BE_NOMEM;
    int rc = path_in(path, sizeof path, dir, name);
    if (rc == 0)
        rc = rt_write_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

static json_t *load(const char *dir, const char *name, int *rc)
{
    char path[PATH_MAX];
    if ((*rc = path_in(path, sizeof path, dir, name)) != 0)
        return NULL;
    json_error_t jerr;
    json_t *o = json_load_file(path, 0, &jerr);
    if (!o || !json_is_object(o)) {
        *rc = access(path, F_OK) == 0 ? BE_IO : BE_NOTFOUND;
        json_decref(o);
        return NULL;
    }
    *rc = 0;
    return o;
}

int rt_spec_write(const char *dir, const struct rt_spec *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", jstr(s->id));
    json_object_set_new(o, "pod_uid", jstr(s->pod_uid));
    json_object_set_new(o, "pod_name", jstr(s->pod_name));
    json_object_set_new(o, "container", jstr(s->container));
    json_object_set_new(o, "attempt", json_integer(s->attempt));
    json_object_set_new(o, "image", jstr(s->image));
    json_object_set_new(o, "rootfs", jstr(s->rootfs));
    json_object_set_new(o, "argv", strv_to_json(s->argv));
    json_object_set_new(o, "env", strv_to_json(s->env));
    json_object_set_new(o, "working_dir", jstr(s->working_dir));
    json_object_set_new(o, "hostname", jstr(s->hostname));
    json_object_set_new(o, "log_path", jstr(s->log_path));
    json_object_set_new(o, "log_max_bytes", json_integer((json_int_t)s->log_max_bytes));
    json_object_set_new(o, "log_max_files", json_integer(s->log_max_files));
    json_object_set_new(o, "cpu_limit_millis", json_integer(s->cpu_limit_millis));
    json_object_set_new(o, "mem_limit_bytes", json_integer(s->mem_limit_bytes));
    json_object_set_new(o, "cpu_request_millis", json_integer(s->cpu_request_millis));
    json_object_set_new(o, "isolated", json_boolean(s->isolated));
    json_object_set_new(o, "cgroup_version", json_integer(s->cg.version));
    json_object_set_new(o, "cgroup_cpu", json_string(s->cg.cpu));
    json_object_set_new(o, "cgroup_cpuacct", json_string(s->cg.cpuacct));
    json_object_set_new(o, "cgroup_memory", json_string(s->cg.memory));
    return dump_atomic(dir, RT_SPEC_FILE, o);
}

static void copy_path(char *dst, json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    snprintf(dst, PATH_MAX, "%s", s ? s : "");
}

int rt_spec_read(const char *dir, struct rt_spec *s)
{
    int rc;
    memset(s, 0, sizeof *s);
    json_t *o = load(dir, RT_SPEC_FILE, &rc);
    if (!o)
        return rc;
    s->id = dupstr(o, "id");
    s->pod_uid = dupstr(o, "pod_uid");
    s->pod_name = dupstr(o, "pod_name");
    s->container = dupstr(o, "container");
    s->attempt = (int)json_integer_value(json_object_get(o, "attempt"));
    s->image = dupstr(o, "image");
    s->rootfs = dupstr(o, "rootfs");
    s->argv = json_to_strv(json_object_get(o, "argv"));
    s->env = json_to_strv(json_object_get(o, "env"));
    s->working_dir = dupstr(o, "working_dir");
    s->hostname = dupstr(o, "hostname");
    s->log_path = dupstr(o, "log_path");
    s->log_max_bytes = (size_t)json_integer_value(json_object_get(o, "log_max_bytes"));
    s->log_max_files = (int)json_integer_value(json_object_get(o, "log_max_files"));
    s->cpu_limit_millis = json_integer_value(json_object_get(o, "cpu_limit_millis"));
    s->mem_limit_bytes = json_integer_value(json_object_get(o, "mem_limit_bytes"));
    s->cpu_request_millis = json_integer_value(json_object_get(o, "cpu_request_millis"));
    s->isolated = json_is_true(json_object_get(o, "isolated"));
    s->cg.version = (int)json_integer_value(json_object_get(o, "cgroup_version"));
    copy_path(s->cg.cpu, o, "cgroup_cpu");
    copy_path(s->cg.cpuacct, o, "cgroup_cpuacct");
    copy_path(s->cg.memory, o, "cgroup_memory");
    json_decref(o);
    if (!s->id || !s->pod_uid || !s->container || !s->argv || !s->argv[0] || !s->env ||
        !s->log_path) {
        rt_spec_free(s);
        return BE_IO;
    }
    if (!s->working_dir)
        s->working_dir = strdup("/");
    return 0;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void rt_spec_free(struct rt_spec *s)
{
    free(s->id);
    free(s->pod_uid);
    free(s->pod_name);
    free(s->container);
    free(s->image);
    free(s->rootfs);
    free_strv(s->argv);
    free_strv(s->env);
    free(s->working_dir);
    free(s->hostname);
    free(s->log_path);
    memset(s, 0, sizeof *s);
}

int rt_exit_write(const char *dir, const struct rt_exit *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "exit_code", json_integer(e->exit_code));
    json_object_set_new(o, "signal", json_integer(e->signal));
    json_object_set_new(o, "oom_killed", json_boolean(e->oom_killed));
    json_object_set_new(o, "started_at", json_integer((json_int_t)e->started_at));
    json_object_set_new(o, "finished_at", json_integer((json_int_t)e->finished_at));
    json_object_set_new(o, "reason", json_string(e->reason));
    json_object_set_new(o, "message", json_string(e->message));
    return dump_atomic(dir, RT_EXIT_FILE, o);
}

int rt_exit_read(const char *dir, struct rt_exit *e)
{
    int rc;
    memset(e, 0, sizeof *e);
    json_t *o = load(dir, RT_EXIT_FILE, &rc);
    if (!o)
        return rc;
    e->exit_code = (int)json_integer_value(json_object_get(o, "exit_code"));
    e->signal = (int)json_integer_value(json_object_get(o, "signal"));
    e->oom_killed = json_is_true(json_object_get(o, "oom_killed"));
    e->started_at = (time_t)json_integer_value(json_object_get(o, "started_at"));
    e->finished_at = (time_t)json_integer_value(json_object_get(o, "finished_at"));
    const char *r = json_string_value(json_object_get(o, "reason"));
    const char *m = json_string_value(json_object_get(o, "message"));
    snprintf(e->reason, sizeof e->reason, "%s", r ? r : "");
    snprintf(e->message, sizeof e->message, "%s", m ? m : "");
    json_decref(o);
    return 0;
}

int rt_pidfile_write(const char *dir, const char *name, pid_t pid, unsigned long long start,
                     time_t started_at)
{
    char path[PATH_MAX], line[96];
    int rc = path_in(path, sizeof path, dir, name);
    if (rc != 0)
        return rc;
    int n = snprintf(line, sizeof line, "%d %llu %lld\n", (int)pid, start,
                     (long long)started_at);
    return rt_write_atomic(path, line, (size_t)n);
}

int rt_pidfile_read(const char *dir, const char *name, pid_t *pid, unsigned long long *start,
                    time_t *started_at)
{
    char path[PATH_MAX], line[96];
    int rc = path_in(path, sizeof path, dir, name);
    if (rc != 0)
        return rc;
    if ((rc = rt_read_file(path, line, sizeof line)) < 0)
        return rc;
    int p = 0;
    unsigned long long st = 0;
    long long at = 0;
    if (sscanf(line, "%d %llu %lld", &p, &st, &at) < 2 || p <= 0)
        return BE_IO;
    *pid = p;
    *start = st;
    if (started_at)
        *started_at = (time_t)at;
    return 0;
}
