/* hpa_calc.h: the arithmetic of the HorizontalPodAutoscaler, pure functions
 * of (pod samples, spec, recommendation history, now), so the unit tests can
 * check them against the Kubernetes documentation's cases with a fake clock.
 * The controller (hpa.c) gathers the inputs from the caches and the metrics
 * cache and writes the results.
 *
 * It follows kube-controller-manager's podautoscaler (replica_calculator.go
 * and horizontal.go) as documented in
 * https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/
 * ("Algorithm details", "Configurable scaling behavior", "Default
 * behavior"):
 *
 *  - desiredReplicas = ceil(currentReplicas * currentMetric / target), where
 *    the ratio is taken over the pods that have metrics; no change while the
 *    ratio is within the tolerance (0.1) of 1.0.
 *  - pods being deleted or failed are ignored; pods missing metrics are set
 *    aside and, when the ratio says "scale down", assumed to use 100% of the
 *    target (max(100%, target%) of their request for Utilization), when it
 *    says "scale up", 0%; not-yet-ready pods (CPU only) are set aside and
 *    assumed at 0% on a scale up (and left out on a scale down). Then the
 *    ratio is recomputed, and if that reverses the direction or lands in the
 *    tolerance, nothing changes.
 *  - behavior: a recommendation history per HPA; scale up is bounded by the
 *    lowest recommendation inside scaleUp.stabilizationWindowSeconds
 *    (default 0), scale down by the highest inside
 *    scaleDown.stabilizationWindowSeconds (default 300); then the rate
 *    policies (Pods / Percent per periodSeconds, selectPolicy Max / Min /
 *    Disabled; defaults: up max(4 pods, 100%) per 15 s, down 100% per 15 s)
 *    over the scale events of the last period, and min/max replicas. */
#ifndef BERTH_HPA_CALC_H
#define BERTH_HPA_CALC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPA_TOLERANCE 0.1
#define HPA_CPU_INIT_PERIOD_MS (5 * 60 * 1000)    /* --horizontal-pod-autoscaler-cpu-initialization-period */
#define HPA_INITIAL_READINESS_DELAY_MS (30 * 1000) /* --horizontal-pod-autoscaler-initial-readiness-delay */
#define HPA_DEFAULT_DOWN_WINDOW_S 300
#define HPA_MAX_POLICIES 8

/* ---- replicas from one metric ------------------------------------------- */

enum hpa_pod_state {
    HPA_POD_READY,
    HPA_POD_UNREADY,    /* pending, or not ready yet / metric from before ready (cpu) */
    HPA_POD_IGNORED,    /* being deleted, failed or succeeded */
};

struct hpa_pod_sample {
    enum hpa_pod_state state;
    bool has_metric;
    int64_t value;      /* usage: millicores or bytes */
    int64_t request;    /* sum of the containers' requests (Utilization only) */
};

struct hpa_calc_result {
    int32_t replicas;          /* proposal from this metric */
    int64_t utilization;       /* percent of requests (Utilization), ready pods only */
    int64_t average;           /* average usage per pod with metrics (ready pods) */
    size_t with_metrics;       /* ready pods that had a metric */
};

/* Whether a pod counts as not ready for a CPU metric (replica_calculator's
 * groupPods): start_ms 0 or no Ready condition (has_ready false) -> unready.
 * Within the CPU initialization period after start: unready unless Ready and
 * the metric was taken a full window after the Ready transition. After it:
 * unready only if not Ready and it has not been Ready since shortly after
 * it started (readiness delay). */
bool hpa_cpu_pod_unready(int64_t start_ms, bool has_ready, bool ready, int64_t ready_change_ms,
                         int64_t metric_ts_ms, int64_t window_ms, int64_t now_ms);

/* Utilization target (percent of requests). Returns 0, or BE_INVAL when no
 * pod had a usable metric ("did not receive metrics for any ready pods") or
 * a counted pod has no request (request <= 0): the caller reports it. */
int hpa_calc_utilization(const struct hpa_pod_sample *pods, size_t n, int32_t current,
                         int64_t target_pct, struct hpa_calc_result *out);
/* AverageValue target (usage per pod, same unit as value). */
int hpa_calc_average(const struct hpa_pod_sample *pods, size_t n, int32_t current,
                     int64_t target_avg, struct hpa_calc_result *out);

/* ---- behavior ----------------------------------------------------------- */

enum hpa_policy_type { HPA_POLICY_PODS, HPA_POLICY_PERCENT };
enum hpa_select { HPA_SELECT_MAX, HPA_SELECT_MIN, HPA_SELECT_DISABLED };

struct hpa_policy {
    enum hpa_policy_type type;
    int32_t value;
    int32_t period_s;
};

struct hpa_rules {
    int64_t window_s;            /* stabilizationWindowSeconds */
    enum hpa_select select;
    struct hpa_policy pol[HPA_MAX_POLICIES];
    size_t npol;
};

struct hpa_behavior {
    struct hpa_rules up, down;
};

/* Kubernetes' defaults; down_window_s is the scale-down window when the
 * spec gives none. */
void hpa_behavior_default(struct hpa_behavior *b, int64_t down_window_s);

struct hpa_rec {
    int64_t ts_ms;
    int32_t replicas;
};

struct hpa_scale_event {
    int64_t ts_ms;
    int32_t change;              /* replicas added (up) or removed (down) */
    bool outdated;
};

/* The per-HPA memory of the controller (lost when leadership moves, as in
 * kube-controller-manager). Zero-initialize; hpa_history_free releases. */
struct hpa_history {
    struct hpa_rec *recs;
    size_t nrecs, caprecs;
    struct hpa_scale_event *up, *down;
    size_t nup, capup, ndown, capdown;
};
void hpa_history_free(struct hpa_history *h);

struct hpa_decision {
    int32_t replicas;            /* what to set */
    int32_t stabilized;          /* after the stabilization window */
    const char *able_reason;     /* AbleToScale True: ReadyForNewScale / ScaleUpStabilized / ... */
    const char *able_message;
    bool limited;                /* ScalingLimited */
    const char *limit_reason;    /* DesiredWithinRange, TooManyReplicas, ScaleUpLimit, ... */
    const char *limit_message;
};

/* From the metrics' proposal to the replicas to set: records the proposal
 * in the history, stabilizes, applies the rate policies and min/max.
 * Returns BE_NOMEM (nothing decided) or 0. */
int hpa_decide(struct hpa_history *h, const struct hpa_behavior *b, int32_t min, int32_t max,
               int32_t current, int32_t proposed, int64_t now_ms, struct hpa_decision *out);

/* Records a rescale from prev to next at now_ms (for the rate policies). */
int hpa_record_scale(struct hpa_history *h, const struct hpa_behavior *b, int32_t prev,
                     int32_t next, int64_t now_ms);

/* The policies' bounds alone (exposed for the tests). */
int32_t hpa_scale_up_limit(const struct hpa_history *h, const struct hpa_rules *r, int32_t current,
                           int64_t now_ms);
int32_t hpa_scale_down_limit(const struct hpa_history *h, const struct hpa_rules *r, int32_t current,
                             int64_t now_ms);

#endif
