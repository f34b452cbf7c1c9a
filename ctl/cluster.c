/* cluster.c: berthctl cluster members | remove NAME | snapshot save FILE.
 *
 * members prints /cluster/members (any server answers; it asks the others
 * for their applied index); remove sends DELETE /cluster/members/NAME (the
 * leader runs it; the removed server stops itself); snapshot save streams
 * GET /cluster/snapshot (taken on the leader after a raft barrier) into
 * FILE.tmp, then renames it to FILE, so FILE is either whole or absent. */
#include "ctl/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/yamljson.h"

static void members_table(const json_t *m)
{
    struct ctl_table t;
    ctl_tbl_init(&t, 7);
    const char *hdr[] = {"NAME", "ID", "ADDRESS", "API", "ROLE", "LEADER", "APPLIED"};
    for (size_t i = 0; i < 7; i++) ctl_tbl_cell(&t, "%s", hdr[i]);
    size_t i;
    json_t *mem;
    json_array_foreach(json_object_get(m, "members"), i, mem) {
        json_t *id = json_object_get(mem, "id"), *applied = json_object_get(mem, "applied");
        const char *name = json_path_str(mem, "name");
        ctl_tbl_cell(&t, "%s", name && name[0] ? name : "<unknown>");
        if (json_is_integer(id)) ctl_tbl_cell(&t, "%lld", (long long)json_integer_value(id));
        else ctl_tbl_cell(&t, "%s", json_is_string(id) ? json_string_value(id) : "");
        ctl_tbl_cell(&t, "%s", json_path_str(mem, "address") ? json_path_str(mem, "address") : "");
        ctl_tbl_cell(&t, "%s", json_path_str(mem, "api") ? json_path_str(mem, "api") : "");
        ctl_tbl_cell(&t, "%s", json_path_str(mem, "role") ? json_path_str(mem, "role") : "");
        ctl_tbl_cell(&t, "%s", json_is_true(json_object_get(mem, "leader")) ? "true" : "false");
        if (json_is_integer(applied)) ctl_tbl_cell(&t, "%lld", (long long)json_integer_value(applied));
        else ctl_tbl_cell(&t, "%s", "<unreachable>");
    }
    ctl_tbl_flush(&t, stdout);
    ctl_tbl_free(&t);
}

static int members(struct ctl *c, const struct ctl_args *a)
{
    if (a->output && strcmp(a->output, "json") && strcmp(a->output, "yaml"))
        return ctl_fail(c, BE_INVAL, "unsupported output format \"%s\" for cluster members: use json or yaml",
                        a->output);
    json_t *m = NULL;
    int rc = ctl_call(c, "GET", "/cluster/members", NULL, NULL, &m, NULL);
    if (rc) return rc;
    if (!json_is_object(m)) {
        json_decref(m);
        return ctl_fail(c, BE_PROTO, "unexpected answer from /cluster/members");
    }
    if (a->output && !strcmp(a->output, "json")) {
        char *s = json_dumps(m, JSON_INDENT(4));
        if (s) printf("%s\n", s);
        free(s);
    } else if (a->output) {
        char *s = yj_emit_yaml(m);
        if (s) fputs(s, stdout);
        free(s);
    } else {
        members_table(m);
    }
    json_decref(m);
    return 0;
}

static int remove_member(struct ctl *c, const char *name)
{
    struct sbuf p = {0};
    sb_add(&p, "/cluster/members/");
    sb_add_enc(&p, name);
    int rc = ctl_call(c, "DELETE", p.s, NULL, NULL, NULL, NULL);
    sb_free(&p);
    if (rc) return rc;
    printf("member \"%s\" removed\n", name);
    return 0;
}

/* Makes tmp durable, then gives it its final name. */
static int fsync_rename(const char *tmp, const char *file)
{
    FILE *f = fopen(tmp, "rb");
    if (!f) return -1;
    int rc = fsync(fileno(f));
    fclose(f);
    return rc ? rc : rename(tmp, file);
}

struct save {
    FILE *f;
    size_t bytes;
    int err;
};

static int write_chunk(void *data, const char *buf, size_t len)
{
    struct save *s = data;
    if (fwrite(buf, 1, len, s->f) != len) {
        s->err = errno ? errno : EIO;
        return 1;
    }
    s->bytes += len;
    return 0;
}

static int snapshot_save(struct ctl *c, const char *file)
{
    struct sbuf tmp = {0};
    sb_printf(&tmp, "%s.tmp", file);
    struct save s = {.f = fopen(tmp.s, "wb")};
    if (!s.f) {
        int rc = ctl_fail(c, BE_IO, "cannot write %s: %s", tmp.s, strerror(errno));
        sb_free(&tmp);
        return rc;
    }
    int status = 0;
    char *err_body = NULL, eb[512];
    int rc = httpc_stream(c->http, "GET", "/cluster/snapshot", write_chunk, &s, &status, &err_body, eb,
                          sizeof eb);
    if (fclose(s.f) && !s.err) s.err = errno ? errno : EIO;
    if (!rc && s.err) rc = ctl_fail(c, BE_IO, "cannot write %s: %s", tmp.s, strerror(s.err));
    else if (rc) rc = ctl_fail(c, rc, "%s", eb);
    else if (status / 100 != 2) rc = ctl_status_error(c, status, err_body ? err_body : "");
    else if (s.bytes == 0) rc = ctl_fail(c, BE_PROTO, "the server sent an empty snapshot");
    else if (fsync_rename(tmp.s, file)) rc = ctl_fail(c, BE_IO, "cannot rename %s to %s: %s", tmp.s, file,
                                                       strerror(errno));
    free(err_body);
    if (rc) unlink(tmp.s);
    else printf("snapshot saved to %s (%zu bytes)\n", file, s.bytes);
    sb_free(&tmp);
    return rc;
}

int ctl_cmd_cluster(struct ctl *c, const struct ctl_args *a)
{
    const char *sub = a->npos ? a->pos[0] : "";
    if (!strcmp(sub, "members") && a->npos == 1) return members(c, a);
    if (!strcmp(sub, "remove") && a->npos == 2) return remove_member(c, a->pos[1]);
    if (!strcmp(sub, "snapshot") && a->npos == 3 && !strcmp(a->pos[1], "save"))
        return snapshot_save(c, a->pos[2]);
    return ctl_fail(c, BE_INVAL, "unknown cluster command%s%s: expected \"cluster members\", "
                                 "\"cluster remove NAME\" or \"cluster snapshot save FILE\"",
                    sub[0] ? " " : "", sub);
}
