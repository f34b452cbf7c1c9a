/* metrics.c: Prometheus text exposition of the API server and store:
 * requests by verb and status code class, a request latency histogram,
 * open watches and connections, raft applied index, revision and object
 * count. Counters are plain integers updated on the loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "common/errors.h"

static const double lat_bounds[API_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05, 0.1, 0.25, 0.5, 1.0, 5.0};
static const char *verb_names[VERB_COUNT] = {"GET", "LIST", "WATCH", "CREATE", "UPDATE",
                                             "PATCH", "DELETE", "OTHER"};

void api_metrics_observe(api_server_t *api, enum api_verb verb, int status, double seconds)
{
    struct api_metrics *m = &api->metrics;
    int cls = status / 100;
    if (cls < 1 || cls > 5) cls = 5;
    m->requests[verb][cls]++;
    if (verb == VERB_WATCH) return; /* a watch's duration is not latency */
    for (int i = 0; i < API_LAT_BUCKETS; i++)
        if (seconds <= lat_bounds[i]) m->lat_buckets[i]++;
    m->lat_count++;
    m->lat_sum += seconds;
}

void api_handle_metrics(struct api_call *call)
{
    api_server_t *api = call->api;
    struct api_metrics *m = &api->metrics;
    size_t cap = 16384, len = 0;
    char *out = malloc(cap);
    if (!out) { api_fail(call, BE_NOMEM, "out of memory"); return; }
#define P(...) len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, __VA_ARGS__)
    P("# HELP berth_apiserver_requests_total API requests by verb and status code class.\n");
    P("# TYPE berth_apiserver_requests_total counter\n");
    for (int v = 0; v < VERB_COUNT; v++)
        for (int c = 1; c <= 5; c++)
            if (m->requests[v][c])
                P("berth_apiserver_requests_total{verb=\"%s\",code=\"%dxx\"} %llu\n", verb_names[v], c,
                  m->requests[v][c]);
    P("# HELP berth_apiserver_request_duration_seconds Latency of non-watch requests.\n");
    P("# TYPE berth_apiserver_request_duration_seconds histogram\n");
    for (int i = 0; i < API_LAT_BUCKETS; i++)
        P("berth_apiserver_request_duration_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[i], m->lat_buckets[i]);
    P("berth_apiserver_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", m->lat_count);
    P("berth_apiserver_request_duration_seconds_sum %.6f\n", m->lat_sum);
    P("berth_apiserver_request_duration_seconds_count %llu\n", m->lat_count);
    struct http_server_stats hs;
    http_server_stats(api->http, &hs);
    P("# TYPE berth_apiserver_watchers gauge\nberth_apiserver_watchers %u\n", api->watchers);
    P("# TYPE berth_apiserver_connections gauge\nberth_apiserver_connections %llu\n", hs.conns_open);
    P("# TYPE berth_apiserver_connections_rejected_total counter\nberth_apiserver_connections_rejected_total %llu\n",
      hs.conns_rejected);
    P("# TYPE berth_store_watchers gauge\nberth_store_watchers %zu\n", store_watch_count(api->store));
    P("# TYPE berth_raft_applied_index gauge\nberth_raft_applied_index %llu\n",
      (unsigned long long)store_applied_index(api->store));
    P("# TYPE berth_store_revision gauge\nberth_store_revision %llu\n",
      (unsigned long long)store_revision(api->store));
    P("# TYPE berth_store_objects gauge\nberth_store_objects %llu\n",
      (unsigned long long)store_object_count(api->store));
    P("# TYPE berth_raft_leader gauge\nberth_raft_leader %d\n", store_is_leader(api->store) ? 1 : 0);
#undef P
    if (len >= cap) len = cap - 1;
    out = api_metrics_api_prometheus(out, &len, &cap);
    http_respond_take(call->req, 200, "text/plain; version=0.0.4", out, len);
    api_call_finish(call, 200);
}
