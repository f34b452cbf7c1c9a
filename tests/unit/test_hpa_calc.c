/* test_hpa_calc.c: the HPA arithmetic (controllers/hpa_calc.c) against the
 * cases of the Kubernetes documentation
 * (https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/):
 * the ratio and ceil, the tolerance, missing metrics and not-ready pods,
 * the stabilization windows, the rate policies and min/max, with a clock
 * that is just a number. */
#include <stdlib.h>

#include "common/errors.h"
#include "controllers/hpa_calc.h"
#include "unit.h"

#define T0 1764000000000LL

/* n ready pods with request 100 (millicores) and the given usages. */
static struct hpa_pod_sample ready(int64_t usage)
{
    return (struct hpa_pod_sample){HPA_POD_READY, true, usage, 100};
}

static struct hpa_pod_sample missing(void)
{
    return (struct hpa_pod_sample){HPA_POD_READY, false, 0, 100};
}

static struct hpa_pod_sample unready(int64_t usage)
{
    return (struct hpa_pod_sample){HPA_POD_UNREADY, true, usage, 100};
}

static void test_ratio_doubles_and_halves(void)
{
    /* "if the current metric value is 200m, and the desired value is 100m,
     * the number of replicas will be doubled ... 50m: halved" */
    struct hpa_calc_result r;
    struct hpa_pod_sample up[] = {ready(200), ready(200)};
    CHECK_INT(hpa_calc_average(up, 2, 2, 100, &r), 0);
    CHECK_INT(r.replicas, 4);
    CHECK_INT(r.average, 200);
    struct hpa_pod_sample down[] = {ready(50), ready(50), ready(50), ready(50)};
    CHECK_INT(hpa_calc_average(down, 4, 4, 100, &r), 0);
    CHECK_INT(r.replicas, 2);
    /* Utilization: one pod at 200% of its request against 50% -> 4 */
    struct hpa_pod_sample one[] = {ready(200)};
    CHECK_INT(hpa_calc_utilization(one, 1, 1, 50, &r), 0);
    CHECK_INT(r.replicas, 4);
    CHECK_INT(r.utilization, 200);
    /* ceil: 3 pods at 70% against 50% -> ceil(4.2) = 5 */
    struct hpa_pod_sample three[] = {ready(70), ready(70), ready(70)};
    CHECK_INT(hpa_calc_utilization(three, 3, 3, 50, &r), 0);
    CHECK_INT(r.replicas, 5);
}

static void test_tolerance(void)
{
    struct hpa_calc_result r;
    /* 54% against 50%: ratio 1.08, within 0.1: no change */
    struct hpa_pod_sample in[] = {ready(54), ready(54), ready(54), ready(54)};
    CHECK_INT(hpa_calc_utilization(in, 4, 4, 50, &r), 0);
    CHECK_INT(r.replicas, 4);
    /* 46%: 0.92, also within */
    struct hpa_pod_sample low[] = {ready(46), ready(46), ready(46), ready(46)};
    CHECK_INT(hpa_calc_utilization(low, 4, 4, 50, &r), 0);
    CHECK_INT(r.replicas, 4);
    /* 56%: 1.12 -> ceil(4.48) = 5 */
    struct hpa_pod_sample out[] = {ready(56), ready(56), ready(56), ready(56)};
    CHECK_INT(hpa_calc_utilization(out, 4, 4, 50, &r), 0);
    CHECK_INT(r.replicas, 5);
    /* the replica count in the spec is what stays, not the pods with metrics */
    struct hpa_pod_sample two[] = {ready(52), ready(52)};
    CHECK_INT(hpa_calc_utilization(two, 2, 3, 50, &r), 0);
    CHECK_INT(r.replicas, 3);
}

static void test_missing_metrics(void)
{
    struct hpa_calc_result r;
    /* Scale down: a pod without metrics counts as 100% of its request.
     * 3 pods at 10% and one missing: (30 + 100) / 4 = 32% -> 0.64 -> 3,
     * where ignoring it would give ceil(0.2 * 3) = 1. */
    struct hpa_pod_sample down[] = {ready(10), ready(10), ready(10), missing()};
    CHECK_INT(hpa_calc_utilization(down, 4, 4, 50, &r), 0);
    CHECK_INT(r.replicas, 3);
    CHECK_INT(r.utilization, 10); /* reported over the pods that had metrics */
    /* ... and if that lands in the tolerance, nothing changes: 2 at 20% + 1:
     * (40 + 100) / 3 = 46% -> 0.93 */
    struct hpa_pod_sample damp[] = {ready(20), ready(20), missing()};
    CHECK_INT(hpa_calc_utilization(damp, 3, 3, 50, &r), 0);
    CHECK_INT(r.replicas, 3);
    /* A target above 100%: missing pods count at the target (max(100, t)). */
    struct hpa_pod_sample hi[] = {ready(50), missing()};
    CHECK_INT(hpa_calc_utilization(hi, 2, 2, 150, &r), 0);
    CHECK_INT(r.replicas, 2); /* (50 + 150) / 2 = 100 -> 0.67 -> ceil(1.33) = 2 */
    /* Scale up: a missing pod counts as 0%. 3 at 100% + 1: 300 / 4 = 75% ->
     * 1.5 -> 6 (ignoring it: ceil(2 * 3) = 6 too); 2 at 100% + 2 missing:
     * 50% -> exactly on target -> stay at 4 (ignoring them: 4 as well, from
     * 2 pods; with 5 in the spec the damping shows). */
    struct hpa_pod_sample up[] = {ready(100), ready(100), ready(100), missing()};
    CHECK_INT(hpa_calc_utilization(up, 4, 4, 50, &r), 0);
    CHECK_INT(r.replicas, 6);
    struct hpa_pod_sample up2[] = {ready(100), ready(100), missing(), missing(), missing()};
    CHECK_INT(hpa_calc_utilization(up2, 5, 5, 50, &r), 0);
    CHECK_INT(r.replicas, 5); /* 200 / 5 = 40% would be a scale down: direction reversed */
    /* AverageValue: missing pods count as the target on a scale down */
    struct hpa_pod_sample avg[] = {ready(10), ready(10), ready(10), missing()};
    CHECK_INT(hpa_calc_average(avg, 4, 4, 100, &r), 0);
    CHECK_INT(r.replicas, 2); /* (30 + 100) / 4 = 32 -> 0.32 -> ceil(1.28) = 2 */
    /* no pod with a metric at all: an error for the caller */
    struct hpa_pod_sample none[] = {missing(), missing()};
    CHECK_INT(hpa_calc_utilization(none, 2, 2, 50, &r), BE_INVAL);
}

static void test_unready_pods(void)
{
    struct hpa_calc_result r;
    /* Scale up: not-ready pods count as 0%. 2 ready at 80% + 1 not ready,
     * 3 in the spec: 160 / 3 = 53% -> 1.06, in the tolerance: stay at 3;
     * ignoring the not-ready pod would give ceil(1.6 * 2) = 4. */
    struct hpa_pod_sample up[] = {ready(80), ready(80), unready(300)};
    CHECK_INT(hpa_calc_utilization(up, 3, 3, 50, &r), 0);
    CHECK_INT(r.replicas, 3);
    CHECK_INT(r.utilization, 80);
    /* Scale down: not-ready pods are left out: 2 at 10% -> ceil(0.2 * 2) = 1 */
    struct hpa_pod_sample down[] = {ready(10), ready(10), unready(0), unready(0)};
    CHECK_INT(hpa_calc_utilization(down, 4, 4, 50, &r), 0);
    CHECK_INT(r.replicas, 1);
    /* pods being deleted or failed do not count at all */
    struct hpa_pod_sample ign[] = {ready(100), {HPA_POD_IGNORED, true, 0, 0}};
    CHECK_INT(hpa_calc_utilization(ign, 2, 1, 50, &r), 0);
    CHECK_INT(r.replicas, 2);
    /* a counted pod without a request is an error */
    struct hpa_pod_sample noreq[] = {ready(100), {HPA_POD_READY, true, 10, 0}};
    CHECK_INT(hpa_calc_utilization(noreq, 2, 2, 50, &r), BE_INVAL);
    /* which pods are not ready for cpu */
    int64_t start = T0 - 60000, now = T0;
    CHECK(hpa_cpu_pod_unready(0, true, true, start, now, 10000, now));       /* no start time */
    CHECK(hpa_cpu_pod_unready(start, false, false, 0, now, 10000, now));     /* no Ready condition */
    /* inside the 5 min initialization: ready, and a full window after it */
    CHECK(!hpa_cpu_pod_unready(start, true, true, start + 5000, now, 10000, now));
    CHECK(hpa_cpu_pod_unready(start, true, true, now - 5000, now, 10000, now)); /* window straddles */
    CHECK(hpa_cpu_pod_unready(start, true, false, start, now, 10000, now));
    /* after it: unready only if not ready and never ready since startup */
    int64_t old = T0 - 3600000;
    CHECK(!hpa_cpu_pod_unready(old, true, false, now - 1000, now, 10000, now));
    CHECK(hpa_cpu_pod_unready(old, true, false, old + 1000, now, 10000, now));
    CHECK(!hpa_cpu_pod_unready(old, true, true, old + 1000, now, 10000, now));
}

static void test_default_scale_up_rate(void)
{
    /* Defaults: up by max(4 pods, 100%) per 15 s, no up window. */
    struct hpa_behavior b;
    struct hpa_history h = {0};
    struct hpa_decision d;
    hpa_behavior_default(&b, 300);
    CHECK_INT(hpa_decide(&h, &b, 1, 20, 1, 20, T0, &d), 0);
    CHECK_INT(d.replicas, 5);
    CHECK(d.limited);
    CHECK_STR(d.limit_reason, "ScaleUpLimit");
    hpa_record_scale(&h, &b, 1, 5, T0);
    /* within the same 15 s the budget is spent: start of period was 1 */
    CHECK_INT(hpa_decide(&h, &b, 1, 20, 5, 20, T0 + 5000, &d), 0);
    CHECK_INT(d.replicas, 5);
    /* a period later: max(5 + 4, 10) = 10 */
    CHECK_INT(hpa_decide(&h, &b, 1, 20, 5, 20, T0 + 15000, &d), 0);
    CHECK_INT(d.replicas, 10);
    hpa_record_scale(&h, &b, 5, 10, T0 + 15000);
    CHECK_INT(hpa_decide(&h, &b, 1, 20, 10, 20, T0 + 30000, &d), 0);
    CHECK_INT(d.replicas, 20);
    CHECK_STR(d.limit_reason, "DesiredWithinRange");
    CHECK(!d.limited);
    /* max clamps */
    CHECK_INT(hpa_decide(&h, &b, 1, 12, 10, 20, T0 + 60000, &d), 0);
    CHECK_INT(d.replicas, 12);
    CHECK_STR(d.limit_reason, "TooManyReplicas");
    hpa_history_free(&h);
}

static void test_scale_down_policies(void)
{
    /* The documentation's example: Pods 4 / 60 s and Percent 10 / 60 s; at
     * 80 replicas, Max picks the larger change (8), Min the smaller (4). */
    struct hpa_behavior b;
    hpa_behavior_default(&b, 0);
    b.down.npol = 2;
    b.down.pol[0] = (struct hpa_policy){HPA_POLICY_PODS, 4, 60};
    b.down.pol[1] = (struct hpa_policy){HPA_POLICY_PERCENT, 10, 60};
    struct hpa_history h = {0};
    struct hpa_decision d;
    CHECK_INT(hpa_decide(&h, &b, 1, 100, 80, 10, T0, &d), 0);
    CHECK_INT(d.replicas, 72);
    CHECK_STR(d.limit_reason, "ScaleDownLimit");
    hpa_record_scale(&h, &b, 80, 72, T0);
    /* within the period: measured from 80 -> 72 is the floor still */
    CHECK_INT(hpa_scale_down_limit(&h, &b.down, 72, T0 + 30000), 72);
    /* after it: 10% of 72 = 7.2 -> 64 (truncated) vs 72 - 4 */
    CHECK_INT(hpa_scale_down_limit(&h, &b.down, 72, T0 + 60001), 64);
    hpa_history_free(&h);
    b.down.select = HPA_SELECT_MIN;
    CHECK_INT(hpa_decide(&h, &b, 1, 100, 80, 10, T0, &d), 0);
    CHECK_INT(d.replicas, 76);
    hpa_history_free(&h);
    /* Disabled: never down */
    b.down.select = HPA_SELECT_DISABLED;
    CHECK_INT(hpa_decide(&h, &b, 1, 100, 80, 10, T0, &d), 0);
    CHECK_INT(d.replicas, 80);
    hpa_history_free(&h);
    /* min clamps */
    hpa_behavior_default(&b, 0);
    CHECK_INT(hpa_decide(&h, &b, 3, 100, 10, 1, T0, &d), 0);
    CHECK_INT(d.replicas, 3);
    CHECK_STR(d.limit_reason, "TooFewReplicas");
    hpa_history_free(&h);
    /* a percent scale up rounds up: 1 pod at 50% -> 2 */
    hpa_behavior_default(&b, 0);
    b.up.npol = 1;
    b.up.pol[0] = (struct hpa_policy){HPA_POLICY_PERCENT, 50, 60};
    CHECK_INT(hpa_scale_up_limit(&h, &b.up, 1, T0), 2);
    b.up.select = HPA_SELECT_DISABLED;
    CHECK_INT(hpa_decide(&h, &b, 1, 100, 3, 10, T0, &d), 0);
    CHECK_INT(d.replicas, 3);
    hpa_history_free(&h);
}

static void test_stabilization_windows(void)
{
    /* Scale down follows the highest recommendation of the window (300 s by
     * default), so a dip does not remove pods. */
    struct hpa_behavior b;
    struct hpa_history h = {0};
    struct hpa_decision d;
    hpa_behavior_default(&b, 300);
    CHECK_INT(hpa_decide(&h, &b, 1, 10, 5, 5, T0, &d), 0);
    CHECK_INT(d.replicas, 5);
    CHECK_STR(d.able_reason, "ReadyForNewScale");
    CHECK_INT(hpa_decide(&h, &b, 1, 10, 5, 2, T0 + 15000, &d), 0);
    CHECK_INT(d.replicas, 5);
    CHECK_STR(d.able_reason, "ScaleDownStabilized");
    CHECK_INT(hpa_decide(&h, &b, 1, 10, 5, 3, T0 + 200000, &d), 0);
    CHECK_INT(d.replicas, 5);
    /* T0's 5 is out of the window; the highest left is 3 (T0 + 200 s) */
    CHECK_INT(hpa_decide(&h, &b, 1, 10, 5, 1, T0 + 300000, &d), 0);
    CHECK_INT(d.replicas, 3);
    CHECK_INT(hpa_decide(&h, &b, 1, 10, 3, 1, T0 + 500001, &d), 0);
    CHECK_INT(d.replicas, 1);
    hpa_history_free(&h);
    /* A scale-up window uses the lowest recommendation of the window. */
    hpa_behavior_default(&b, 0);
    b.up.window_s = 60;
    CHECK_INT(hpa_decide(&h, &b, 1, 10, 2, 2, T0, &d), 0);
    CHECK_INT(hpa_decide(&h, &b, 1, 10, 2, 6, T0 + 15000, &d), 0);
    CHECK_INT(d.replicas, 2);
    CHECK_STR(d.able_reason, "ScaleUpStabilized");
    CHECK_INT(hpa_decide(&h, &b, 1, 10, 2, 6, T0 + 60000, &d), 0);
    CHECK_INT(d.replicas, 6);
    /* the history stays bounded: old samples are replaced */
    for (int i = 0; i < 1000; i++) hpa_decide(&h, &b, 1, 10, 6, 6, T0 + 120000 + i * 15000LL, &d);
    CHECK(h.nrecs < 20);
    hpa_history_free(&h);
}

int main(void)
{
    RUN(test_ratio_doubles_and_halves);
    RUN(test_tolerance);
    RUN(test_missing_metrics);
    RUN(test_unready_pods);
    RUN(test_default_scale_up_rate);
    RUN(test_scale_down_policies);
    RUN(test_stabilization_windows);
    UNIT_EXIT();
}
