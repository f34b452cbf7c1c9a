/* manifest.c: reads the objects named by -f for apply, create and delete.
 *
 * A source is a file, a directory (its *.yaml, *.yml and *.json files, not
 * recursive, in name order) or "-" for stdin. Each file is a stream of YAML
 * or JSON documents; a document of kind List contributes its items. Every
 * object is validated before the caller sends anything: it must be an object
 * with apiVersion, kind and metadata.name, of a kind Berth knows. The
 * namespace comes from the manifest or -n and is written into the object;
 * cluster-scoped kinds lose any namespace. Errors name the file and the
 * document: "deploy.yaml: document 2: unknown kind ...". */
#include "ctl/ctl.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/yamljson.h"

#define CTL_MAX_MANIFEST (64u << 20)

static int check_meta(struct ctl *c, json_t *obj, const struct kind_info *k,
                      bool allow_gen, const char *where)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_is_object(meta)) return ctl_fail(c, BE_INVAL, "%s: metadata.name not set", where);
    json_t *name = json_object_get(meta, "name");
    bool has_name = json_is_string(name) && json_string_length(name) > 0;
    const char *gen = json_path_str(obj, "metadata.generateName");
    if (name && !json_is_string(name))
        return ctl_fail(c, BE_INVAL, "%s: metadata.name must be a string", where);
    if (!has_name && !(allow_gen && gen && gen[0]))
        return ctl_fail(c, BE_INVAL, "%s: metadata.name not set", where);
    json_t *ns = json_object_get(meta, "namespace");
    if (!k->namespaced) {
        json_object_del(meta, "namespace");
        return 0;
    }
    if (ns && !json_is_null(ns) && !json_is_string(ns))
        return ctl_fail(c, BE_INVAL, "%s: metadata.namespace must be a string", where);
    const char *mns = json_is_string(ns) ? json_string_value(ns) : NULL;
    if (mns && mns[0] && c->ns_explicit && strcmp(mns, c->ns))
        return ctl_fail(c, BE_INVAL,
                        "%s: the namespace from the provided object \"%s\" does not match the "
                        "namespace \"%s\"; pass --namespace=%s to use it",
                        where, mns, c->ns, mns);
    if (!mns || !mns[0]) json_object_set_new(meta, "namespace", json_string(c->ns));
    return 0;
}

/* Validates one object and appends it to out (taking a new reference). */
static int add_object(struct ctl *c, json_t *obj, bool allow_gen, const char *where,
                      struct ctl_objs *out)
{
    if (!json_is_object(obj))
        return ctl_fail(c, BE_INVAL, "%s: expected an object with apiVersion and kind", where);
    const char *av = json_path_str(obj, "apiVersion");
    const char *kind = json_path_str(obj, "kind");
    if (!av || !av[0]) return ctl_fail(c, BE_INVAL, "%s: apiVersion not set", where);
    if (!kind || !kind[0]) return ctl_fail(c, BE_INVAL, "%s: kind not set", where);
    const struct kind_info *k = kind_by_api_kind(av, kind);
    if (!k)
        return ctl_fail(c, BE_INVAL, "%s: unknown kind \"%s\" in apiVersion \"%s\"", where, kind, av);
    int rc = check_meta(c, obj, k, allow_gen, where);
    if (rc) return rc;
    out->v = xrealloc(out->v, (out->n + 1) * sizeof *out->v);
    struct ctl_obj *o = &out->v[out->n++];
    memset(o, 0, sizeof *o);
    o->obj = json_incref(obj);
    o->kind = k;
    o->ns = k->namespaced ? json_path_str(obj, "metadata.namespace") : NULL;
    o->name = json_path_str(obj, "metadata.name");
    snprintf(o->where, sizeof o->where, "%s", where);
    return 0;
}

static int add_document(struct ctl *c, json_t *doc, const char *file, size_t idx,
                        bool allow_gen, struct ctl_objs *out)
{
    char where[256];
    snprintf(where, sizeof where, "%s: document %zu", file, idx);
    const char *kind = json_path_str(doc, "kind");
    if (!kind || strcmp(kind, "List")) return add_object(c, doc, allow_gen, where, out);
    json_t *items = json_object_get(doc, "items");
    if (!json_is_array(items)) return ctl_fail(c, BE_INVAL, "%s: List without items", where);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        char iw[300];
        snprintf(iw, sizeof iw, "%s: item %zu", where, i + 1);
        int rc = add_object(c, it, allow_gen, iw, out);
        if (rc) return rc;
    }
    return 0;
}

static int read_one(struct ctl *c, const char *path, bool allow_gen, struct ctl_objs *out)
{
    const char *name = strcmp(path, "-") ? path : "STDIN";
    char *buf = NULL;
    size_t len = 0;
    int rc = ctl_read_file(c, path, CTL_MAX_MANIFEST, &buf, &len);
    if (rc) return rc;
    struct yj_docs docs = {0};
    char eb[512] = "";
    rc = yj_parse_documents(buf, len, &docs, eb, sizeof eb);
    free(buf);
    if (rc) return ctl_fail(c, rc, "%s: %s", name, eb[0] ? eb : be_strerror(rc));
    for (size_t i = 0; !rc && i < docs.n; i++)
        rc = add_document(c, docs.docs[i], name, i + 1, allow_gen, out);
    yj_docs_free(&docs);
    return rc;
}

static bool manifest_name(const char *n)
{
    size_t l = strlen(n);
    if (n[0] == '.') return false;
    return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml")) ||
           (l > 5 && !strcmp(n + l - 5, ".json"));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_dir(struct ctl *c, const char *dir, bool allow_gen, struct ctl_objs *out)
{
    DIR *d = opendir(dir);
    if (!d) return ctl_fail(c, BE_IO, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!manifest_name(e->d_name)) continue;
        names = xrealloc(names, (n + 1) * sizeof *names);
        size_t dl = strlen(dir);
        char *p = xmalloc(dl + strlen(e->d_name) + 2);
        sprintf(p, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", e->d_name);
        names[n++] = p;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rc) rc = read_one(c, names[i], allow_gen, out);
        free(names[i]);
    }
    free(names);
    return rc;
}

int ctl_read_manifests(struct ctl *c, const char **files, int nfiles,
                       bool allow_generate_name, struct ctl_objs *out)
{
    memset(out, 0, sizeof *out);
    if (nfiles == 0) return ctl_fail(c, BE_INVAL, "must specify -f FILENAME");
    int rc = 0, stdin_used = 0;
    for (int i = 0; !rc && i < nfiles; i++) {
        struct stat st;
        if (!strcmp(files[i], "-")) {
            if (stdin_used++) rc = ctl_fail(c, BE_INVAL, "-f - may be given only once");
            else rc = read_one(c, "-", allow_generate_name, out);
        } else if (stat(files[i], &st) != 0) {
            rc = ctl_fail(c, BE_IO, "the path \"%s\" does not exist", files[i]);
        } else if (S_ISDIR(st.st_mode)) {
            rc = read_dir(c, files[i], allow_generate_name, out);
        } else {
            rc = read_one(c, files[i], allow_generate_name, out);
        }
    }
    if (rc) ctl_objs_free(out);
    return rc;
}

void ctl_objs_free(struct ctl_objs *o)
{
    for (size_t i = 0; i < o->n; i++) json_decref(o->v[i].obj);
    free(o->v);
    memset(o, 0, sizeof *o);
}
