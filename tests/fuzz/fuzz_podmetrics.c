/* fuzz_podmetrics.c: libFuzzer harness for the metrics cache's ingest
 * (common/podmetrics.c): every agent POSTs its batch of CPU and memory
 * samples to /apis/metrics.k8s.io/v1beta1/ingest, and agents are hostile
 * input. Not built by CMake; see tests/fuzz/run.sh.
 *
 * One cache lives across inputs, each a batch received a minute after the
 * last. A batch is stored or refused with BE_INVAL and a message, and a
 * refused one changes nothing. Whatever was stored can be read back, listed
 * (sorted), expired, and served as metrics.k8s.io objects and Prometheus
 * text (UBSan checks the arithmetic on hostile timestamps and windows). */
#include "common/podmetrics.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

static podmetrics_t *pm;
static int64_t now = 1764000000000;

static size_t count_all(void)
{
    const struct pm_pod **pods;
    const struct pm_node **nodes;
    size_t np = podmetrics_list_pods(pm, NULL, now, &pods);
    size_t nn = podmetrics_list_nodes(pm, now, &nodes);
    if (np == (size_t)-1 || nn == (size_t)-1)
        abort();
    for (size_t i = 0; i + 1 < np; i++) {
        int c = strcmp(pods[i]->ns, pods[i + 1]->ns);
        if (c > 0 || (c == 0 && strcmp(pods[i]->name, pods[i + 1]->name) > 0))
            abort();
    }
    for (size_t i = 0; i < np; i++) {
        json_decref(podmetrics_pod_json(pods[i]));
        if (podmetrics_get_pod(pm, pods[i]->ns, pods[i]->name, now) != pods[i])
            abort();
    }
    for (size_t i = 0; i < nn; i++)
        json_decref(podmetrics_node_json(nodes[i]));
    free(pods);
    free(nodes);
    return np * 1000003 + nn;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pm && podmetrics_new(&pm) != 0)
        abort();
    if (size > 65536)
        return 0;
    now += 60000;
    size_t before = count_all();
    char err[256] = "";
    int rc = podmetrics_ingest(pm, (const char *)data, size, now, err, sizeof err);
    if (rc == BE_INVAL) {
        if (!err[0] || count_all() != before)
            abort();
    } else if (rc != 0 && rc != BE_NOMEM) {
        abort();
    }
    (void)count_all();
    FILE *out = fopen("/dev/null", "w");
    if (out) {
        podmetrics_prometheus(pm, out, now);
        fclose(out);
    }
    podmetrics_expire(pm, now);
    return 0;
}
