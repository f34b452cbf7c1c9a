/* kinds.h: the table of API kinds Berth knows.
 *
 * One row per resource: its group, version, plural resource name, Kind,
 * whether it is namespaced, its short names, the subresources it has, and
 * whether it is a workload (category "all"). The API server routes and serves
 * discovery from this table; berthctl resolves "deploy", "deployment",
 * "deployments" or "deployments.apps" to a row through it. */
#ifndef BERTH_KINDS_H
#define BERTH_KINDS_H

#include <stdbool.h>

struct kind_info {
    const char *group;      /* "" for the core group */
    const char *version;    /* "v1", "v2" */
    const char *resource;   /* plural, lower case: "deployments" */
    const char *singular;   /* "deployment" */
    const char *kind;       /* "Deployment" */
    bool namespaced;
    bool workload;          /* in category "all" */
    const char *short_names[4];   /* NULL-terminated */
    const char *subresources[4];  /* "status", "scale", "log", "binding" */
};

/* The whole table, terminated by a row with resource == NULL. */
extern const struct kind_info kind_table[];

/* By (group, resource), e.g. ("apps", "deployments"). NULL if unknown. */
const struct kind_info *kind_by_resource(const char *group, const char *resource);
/* By apiVersion + kind of a manifest, e.g. ("apps/v1", "Deployment"). The
 * version must match too. */
const struct kind_info *kind_by_api_kind(const char *api_version, const char *kind);
/* By what a user types: plural, singular, Kind (any case), short name, or
 * "resource.group". NULL if unknown. */
const struct kind_info *kind_lookup(const char *name);
/* "apps/v1" or "v1" into buf. */
const char *kind_api_version(const struct kind_info *k, char *buf, int len);
/* Whether the resource has the named subresource. */
bool kind_has_subresource(const struct kind_info *k, const char *sub);

#endif
