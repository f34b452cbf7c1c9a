/* main.c: berthctl's entry point: command-line parsing and verb dispatch.
 *
 * The command line is `berthctl [global flags] VERB [args] [flags]`, flags
 * anywhere. A first pass finds the verb (skipping global flags); a second
 * reads every flag through one table whose rows say which verbs accept the
 * flag, so the same letter can mean different things (`apply -f FILE`,
 * `logs -f`) and a flag a verb does not take is an "unknown flag" error.
 * Every command returns 0 or a BE_* code with its message in ctl.err, which
 * is printed here as the single "error: ..." line. */
#include "ctl/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

enum {
    V_APPLY = 1 << 0, V_CREATE = 1 << 1, V_GET = 1 << 2, V_DESCRIBE = 1 << 3,
    V_DELETE = 1 << 4, V_SCALE = 1 << 5, V_LOGS = 1 << 6, V_VERSION = 1 << 7,
    V_CLUSTER = 1 << 8, V_ROLLOUT = 1 << 9, V_TOP = 1 << 10, V_HELP = 1 << 11,
    V_ALL = (1 << 12) - 1,
};

enum flag_id {
    F_SERVER, F_NS, F_ALLNS, F_FILE, F_SELECTOR, F_FIELDSEL, F_OUTPUT, F_WATCH,
    F_CASCADE, F_IGNORE_NF, F_REPLICAS, F_CONTAINER, F_FOLLOW, F_TAIL, F_HELP,
    F_TIMEOUT, F_TO_REVISION, F_GRACE, F_FORCE, F_WAIT,
};

struct flag {
    char short_name;
    const char *long_name;
    bool takes_value;
    unsigned verbs;
    enum flag_id id;
};

static const struct flag flags[] = {
    {0, "server", true, V_ALL, F_SERVER},
    {'n', "namespace", true, V_ALL, F_NS},
    {'A', "all-namespaces", false, V_GET | V_DESCRIBE | V_DELETE | V_TOP, F_ALLNS},
    {'f', "filename", true, V_APPLY | V_CREATE | V_DELETE, F_FILE},
    {'l', "selector", true, V_GET | V_DESCRIBE | V_TOP, F_SELECTOR},
    {0, "field-selector", true, V_GET, F_FIELDSEL},
    {'o', "output", true, V_GET | V_CLUSTER, F_OUTPUT},
    {'w', "watch", false, V_GET | V_ROLLOUT, F_WATCH},
    {0, "cascade", true, V_DELETE, F_CASCADE},
    {0, "ignore-not-found", false, V_DELETE, F_IGNORE_NF},
    {0, "replicas", true, V_SCALE, F_REPLICAS},
    {'c', "container", true, V_LOGS, F_CONTAINER},
    {'f', "follow", false, V_LOGS, F_FOLLOW},
    {0, "tail", true, V_LOGS, F_TAIL},
    {'h', "help", false, V_ALL, F_HELP},
    {0, "timeout", true, V_ROLLOUT | V_DELETE, F_TIMEOUT},
    {0, "grace-period", true, V_DELETE, F_GRACE},
    {0, "force", false, V_DELETE, F_FORCE},
    {0, "wait", false, V_DELETE, F_WAIT},
    {0, "to-revision", true, V_ROLLOUT, F_TO_REVISION},
};
#define NFLAGS (sizeof flags / sizeof flags[0])

static int help(struct ctl *c, const struct ctl_args *a);

static const struct verb {
    const char *name;
    unsigned bit;
    bool needs_server;
    int (*run)(struct ctl *c, const struct ctl_args *a);
} verbs[] = {
    {"apply", V_APPLY, true, ctl_cmd_apply},
    {"create", V_CREATE, true, ctl_cmd_create},
    {"get", V_GET, true, ctl_cmd_get},
    {"describe", V_DESCRIBE, true, ctl_cmd_describe},
    {"delete", V_DELETE, true, ctl_cmd_delete},
    {"scale", V_SCALE, true, ctl_cmd_scale},
    {"logs", V_LOGS, true, ctl_cmd_logs},
    {"version", V_VERSION, true, ctl_cmd_version},
    {"cluster", V_CLUSTER, true, ctl_cmd_cluster},
    {"rollout", V_ROLLOUT, true, ctl_cmd_rollout},
    {"top", V_TOP, true, ctl_cmd_top},
    {"help", V_HELP, false, help},
};

static const char usage[] =
    "berthctl controls a Berth cluster.\n"
    "\n"
    "Usage: berthctl [--server URL] [-n NS | -A] VERB [ARGS] [FLAGS]\n"
    "\n"
    "Verbs:\n"
    "  apply -f FILE|DIR|-          create or update objects from manifests (-f repeatable)\n"
    "  create -f FILE|DIR|-         create objects; existing ones are an error\n"
    "  get KIND [NAME...]           list or show objects\n"
    "      [-l SEL] [--field-selector SEL] [-o wide|json|yaml|name] [-w]\n"
    "  describe KIND [NAME...]      show objects in detail, with their events\n"
    "  delete KIND NAME... | -f FILE [--cascade=background|foreground|orphan]\n"
    "      [--ignore-not-found] [--grace-period=SECONDS] [--force] [--wait=false]\n"
    "      [--timeout=DURATION]  (waits until the objects are gone, as kubectl)\n"
    "  scale KIND/NAME --replicas=N\n"
    "                               set the replicas of a deployment, replicaset or statefulset\n"
    "  logs POD [-c CONTAINER] [-f] [--tail N]\n"
    "  cluster members [-o json]    the servers of the cluster and their raft state\n"
    "  cluster remove NAME          take a server out of the cluster (it stops itself)\n"
    "  cluster snapshot save FILE   write a consistent backup (berthd --restore FILE)\n"
    "  version                      client and server versions\n"
    "  rollout status|history|undo|restart deployment/NAME\n"
    "      [--timeout DURATION] [--to-revision N]\n"
    "                               follow, list, roll back or restart a rollout\n"
    "  top pods [NAME] [-l SEL] | top nodes [NAME]\n"
    "                               cpu and memory use (metrics reported by the agents)\n"
    "\n"
    "Global flags:\n"
    "  --server URL                 API server (env BERTH_SERVER; default http://127.0.0.1:7070)\n"
    "  -n, --namespace NS           namespace (default \"default\")\n"
    "  -A, --all-namespaces         every namespace (get)\n"
    "  -h, --help                   this text\n"
    "\n"
    "KIND is a kind, plural, short name or resource.group: pods/po, deployments/deploy,\n"
    "replicasets/rs, daemonsets/ds, jobs, cronjobs/cj, services/svc, nodes/no,\n"
    "namespaces/ns, configmaps/cm, events/ev, horizontalpodautoscalers/hpa, ...\n";

static int help(struct ctl *c, const struct ctl_args *a)
{
    fputs(usage, stdout);
    return 0;
}

static const struct flag *find_flag(const char *lname, char sname, unsigned verb)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        if (!(flags[i].verbs & verb)) continue;
        if (lname && !strcmp(flags[i].long_name, lname)) return &flags[i];
        if (!lname && sname && flags[i].short_name == sname) return &flags[i];
    }
    return NULL;
}

struct parse {
    struct ctl *c;
    struct ctl_args *a;
    const char *server;
};

/* Stores one flag's value. name is how the user spelt it, for messages. */
static int set_flag(struct parse *p, const struct flag *f, const char *value, const char *name)
{
    struct ctl_args *a = p->a;
    bool on = !value || !strcmp(value, "true");
    if (!f->takes_value && value && strcmp(value, "true") && strcmp(value, "false"))
        return ctl_fail(p->c, BE_INVAL, "invalid value \"%s\" for %s: expected true or false", value, name);
    switch (f->id) {
    case F_SERVER: p->server = value; break;
    case F_NS:
        if (!value[0]) return ctl_fail(p->c, BE_INVAL, "%s may not be empty", name);
        p->c->ns = value;
        p->c->ns_explicit = true;
        break;
    case F_ALLNS: p->c->all_ns = on; break;
    case F_FILE: a->files[a->nfiles++] = value; break;
    case F_SELECTOR: a->selector = value; break;
    case F_FIELDSEL: a->field_selector = value; break;
    case F_OUTPUT: a->output = value; break;
    case F_WATCH: a->watch = on; break;
    case F_CASCADE: a->cascade = value; break;
    case F_IGNORE_NF: a->ignore_not_found = on; break;
    case F_REPLICAS: a->replicas = value; break;
    case F_CONTAINER: a->container = value; break;
    case F_FOLLOW: a->follow = on; break;
    case F_TAIL: a->tail = value; break;
    case F_HELP: a->help = on; break;
    case F_TIMEOUT: a->timeout = value; break;
    case F_TO_REVISION: a->to_revision = value; break;
    case F_GRACE: a->grace_period = value; break;
    case F_FORCE: a->force = on; break;
    case F_WAIT: a->no_wait = !on; break;
    }
    return 0;
}

/* "--name[=value]": returns how many argv entries it used, or a BE_* code. */
static int long_flag(struct parse *p, unsigned verb, int argc, char **argv, int i)
{
    char name[64];
    const char *arg = argv[i] + 2, *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    snprintf(name, sizeof name, "%.*s", (int)(n < 60 ? n : 60), arg);
    const struct flag *f = find_flag(name, 0, verb);
    if (!f) return ctl_fail(p->c, BE_INVAL, "unknown flag: --%s", name);
    const char *value = eq ? eq + 1 : NULL;
    int used = 1;
    if (f->takes_value && !value) {
        if (i + 1 >= argc) return ctl_fail(p->c, BE_INVAL, "flag needs an argument: --%s", name);
        value = argv[i + 1];
        used = 2;
    }
    char shown[70];
    snprintf(shown, sizeof shown, "--%s", name);
    int rc = set_flag(p, f, value, shown);
    return rc ? rc : used;
}

/* "-x", "-xVALUE", "-x VALUE", "-Aw": returns argv entries used or BE_*. */
static int short_flags(struct parse *p, unsigned verb, int argc, char **argv, int i)
{
    for (const char *s = argv[i] + 1; *s; s++) {
        const struct flag *f = find_flag(NULL, *s, verb);
        char shown[3] = {'-', *s, 0};
        if (!f) return ctl_fail(p->c, BE_INVAL, "unknown shorthand flag: '%c' in %s", *s, argv[i]);
        if (!f->takes_value) {
            int rc = set_flag(p, f, NULL, shown);
            if (rc) return rc;
            continue;
        }
        const char *value = s[1] ? s + 1 + (s[1] == '=') : NULL;
        if (!value && i + 1 >= argc) return ctl_fail(p->c, BE_INVAL, "flag needs an argument: '%c' in %s", *s, argv[i]);
        int rc = set_flag(p, f, value ? value : argv[i + 1], shown);
        return rc ? rc : value ? 1 : 2;
    }
    return 1;
}

/* The verb: the first argument that is neither a global flag nor its value. */
static int find_verb(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (s[0] != '-' || !s[1]) return i;
        if (!strcmp(s, "--")) return i + 1 < argc ? i + 1 : -1;
        if (!strcmp(s, "--server") || !strcmp(s, "-n") || !strcmp(s, "--namespace")) i++;
    }
    return -1;
}

static int parse_args(struct parse *p, int argc, char **argv, const struct verb **vp)
{
    int vi = find_verb(argc, argv);
    const struct verb *v = NULL;
    for (size_t i = 0; vi > 0 && i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(verbs[i].name, argv[vi])) v = &verbs[i];
    if (vi > 0 && !v) return ctl_fail(p->c, BE_INVAL, "unknown command \"%s\" for \"berthctl\"", argv[vi]);
    unsigned bit = v ? v->bit : V_HELP;
    p->a->files = xmalloc((size_t)argc * sizeof *p->a->files);
    p->a->pos = xmalloc((size_t)argc * sizeof *p->a->pos);
    bool rest = false;
    for (int i = 1; i < argc;) {
        const char *s = argv[i];
        int used = 1;
        if (i == vi) used = 1;
        else if (rest || s[0] != '-' || !s[1]) p->a->pos[p->a->npos++] = s;
        else if (!strcmp(s, "--")) rest = true;
        else if (s[1] == '-') used = long_flag(p, bit, argc, argv, i);
        else used = short_flags(p, bit, argc, argv, i);
        if (used < 0) return used;
        i += used;
    }
    *vp = v;
    return 0;
}

static int run(struct ctl *c, int argc, char **argv)
{
    struct ctl_args a = {0};
    struct parse p = {.c = c, .a = &a};
    const struct verb *v = NULL;
    int rc = parse_args(&p, argc, argv, &v);
    if (!rc && !v && !a.help) rc = ctl_fail(c, BE_INVAL, "no command given; see \"berthctl --help\"");
    if (!rc && (a.help || v->run == help)) {
        fputs(usage, stdout);
    } else if (!rc) {
        a.verb = v->name;
        c->server = p.server ? p.server : getenv("BERTH_SERVER");
        if (!c->server || !c->server[0]) c->server = "http://127.0.0.1:7070";
        char eb[256] = "";
        if (v->needs_server && !(c->http = httpc_new(c->server, 0, eb, sizeof eb)))
            rc = ctl_fail(c, BE_INVAL, "invalid server URL \"%s\": %s", c->server, eb);
        if (!rc) rc = v->run(c, &a);
        if (c->http) httpc_free(c->http);
    }
    free(a.files);
    free(a.pos);
    return rc;
}

int main(int argc, char **argv)
{
    struct ctl c = {.ns = "default"};
    int rc = run(&c, argc, argv);
    fflush(stdout);
    if (rc) {
        fprintf(stderr, "error: %s\n", c.err[0] ? c.err : be_strerror(rc));
        return 1;
    }
    return 0;
}
