/* filter.h: the label and field selectors of one list or watch request,
 * parsed once and applied to each object's JSON text. A fieldSelector term
 * spec.nodeName=X on pods is lifted out into `node`, for the store's index. */
#ifndef BERTH_API_FILTER_H
#define BERTH_API_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "apiserver/api_int.h"
#include "common/selector.h"

struct api_filter {
    struct selector labels;
    struct field_selector fields;
    bool active;                /* anything to check per object */
    const char *node;           /* points into node_buf, or NULL */
    char node_buf[API_NAME_MAX + 1];
};

int api_filter_init(struct api_filter *f, const http_req_t *req, const struct api_route *rt,
                    char *errbuf, size_t errlen);
bool api_filter_match(struct api_filter *f, const char *json, size_t len);
/* Whether an update can move an object in or out of the selection in a way
 * only its previous state tells (the store's node index covers a lone
 * spec.nodeName term). */
bool api_filter_needs_prev(const struct api_filter *f);
void api_filter_free(struct api_filter *f);

#endif
