/* validate_int.h: shared by the validation files of the API server. */
#ifndef BERTH_VALIDATE_INT_H
#define BERTH_VALIDATE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct vctx {
    char *err;
    size_t errlen;
    const json_t *old;   /* current object on update, else NULL */
};

int vfail(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool valid_qualified_name(const char *k);
bool valid_label_value(const char *v);
int check_labels(struct vctx *v, const json_t *labels, const char *path);

/* validate_pod.c */
int validate_pod(struct vctx *v, json_t *pod);
int validate_pod_spec(struct vctx *v, json_t *spec, const char *path, bool in_job);
int validate_template(struct vctx *v, json_t *tmpl, const char *path, bool in_job);
/* Sets *out to an int field with a default; checks bounds. */
int int_field(struct vctx *v, json_t *obj, const char *key, const char *path,
              long long def, long long min, long long max, bool set_default, long long *out);

/* validate_workloads.c */
int validate_apps(struct vctx *v, const char *resource, json_t *obj);
int validate_job(struct vctx *v, json_t *spec, const char *path, json_t *obj);
int validate_cronjob(struct vctx *v, json_t *obj);
int validate_service(struct vctx *v, json_t *obj);
int validate_hpa(struct vctx *v, json_t *obj);

#endif
