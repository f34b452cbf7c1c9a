/* filter.c: see filter.h. Supported field selectors are the ones Kubernetes
 * offers for the kinds Berth serves: metadata.name, metadata.namespace,
 * spec.nodeName and status.phase (pods), involvedObject.* and reason, type
 * (events); anything else is rejected when the request is parsed. */
#include <stdio.h>
#include <string.h>

#include "apiserver/filter.h"
#include "common/errors.h"
#include "common/jsonutil.h"

static const char *const supported_fields[] = {
    "metadata.name", "metadata.namespace", "spec.nodeName", "status.phase",
    "involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
    "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.fieldPath",
    "reason", "type", "spec.unschedulable", NULL,
};

static bool field_supported(const char *f)
{
    for (int i = 0; supported_fields[i]; i++)
        if (!strcmp(supported_fields[i], f)) return true;
    return false;
}

int api_filter_init(struct api_filter *f, const http_req_t *req, const struct api_route *rt,
                    char *errbuf, size_t errlen)
{
    memset(f, 0, sizeof *f);
    char text[4096];
    if (http_req_query(req, "labelSelector", text, sizeof text) && text[0]) {
        if (selector_parse(text, &f->labels, errbuf, errlen)) return BE_INVAL;
    }
    if (http_req_query(req, "fieldSelector", text, sizeof text) && text[0]) {
        if (field_selector_parse(text, &f->fields, errbuf, errlen)) {
            selector_free(&f->labels);
            return BE_INVAL;
        }
        for (size_t i = 0; i < f->fields.n; i++) {
            struct field_req *r = &f->fields.reqs[i];
            if (!field_supported(r->field)) {
                snprintf(errbuf, errlen, "field label not supported: %s", r->field);
                api_filter_free(f);
                return BE_INVAL;
            }
            if (!strcmp(r->field, "spec.nodeName") && !r->negate &&
                !strcmp(rt->kind->resource, "pods") && !f->node) {
                snprintf(f->node_buf, sizeof f->node_buf, "%s", r->value);
                f->node = f->node_buf;
            }
        }
    }
    f->active = f->labels.n > 0 || f->fields.n > 0;
    return 0;
}

static const char *get_field(void *data, const char *field)
{
    json_t *obj = data;
    const char *v = json_path_str(obj, field);
    if (!strcmp(field, "spec.unschedulable")) {
        json_t *b = json_path(obj, field);
        return json_is_true(b) ? "true" : "false";
    }
    return v ? v : "";
}

bool api_filter_match(struct api_filter *f, const char *json, size_t len)
{
    if (!f->active) return true;
    json_t *obj = json_loadb(json, len, 0, NULL);
    if (!obj) return false;
    bool ok = selector_matches(&f->labels, json_path(obj, "metadata.labels")) &&
              field_selector_matches(&f->fields, get_field, obj);
    json_decref(obj);
    return ok;
}

bool api_filter_needs_prev(const struct api_filter *f)
{
    return f->labels.n > 0 || f->fields.n > (f->node ? 1u : 0u);
}

void api_filter_free(struct api_filter *f)
{
    selector_free(&f->labels);
    field_selector_free(&f->fields);
    memset(f, 0, sizeof *f);
}
