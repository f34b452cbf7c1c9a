/* hpa_calc.c: the HorizontalPodAutoscaler's arithmetic (see hpa_calc.h for
 * the rules and where they come from). No I/O, no clock: everything is an
 * argument. Percent utilization is truncated to an integer before the ratio
 * is taken, and plain averages use integer division, as Kubernetes does, so
 * the documented cases come out the same. */
#include "controllers/hpa_calc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

bool hpa_cpu_pod_unready(int64_t start_ms, bool has_ready, bool ready, int64_t ready_change_ms,
                         int64_t metric_ts_ms, int64_t window_ms, int64_t now_ms)
{
    if (!has_ready || start_ms <= 0) return true;
    if (start_ms + HPA_CPU_INIT_PERIOD_MS > now_ms)
        return !ready || metric_ts_ms < ready_change_ms + window_ms;
    return !ready && start_ms + HPA_INITIAL_READINESS_DELAY_MS > ready_change_ms;
}

/* ---- one metric --------------------------------------------------------------- */

/* The values a ratio is computed over: each counted pod's usage and request. */
struct vals {
    int64_t *v, *req;
    size_t n;
};

static bool ratio_util(const struct vals *m, int64_t target, double *ratio, int64_t *util,
                       int64_t *avg)
{
    int64_t used = 0, req = 0;
    for (size_t i = 0; i < m->n; i++) {
        used += m->v[i];
        req += m->req[i];
    }
    if (req <= 0 || !m->n) return false;
    int64_t u = used * 100 / req;
    if (util) *util = u;
    if (avg) *avg = used / (int64_t)m->n;
    *ratio = (double)u / (double)target;
    return true;
}

static bool ratio_avg(const struct vals *m, int64_t target, double *ratio, int64_t *avg)
{
    if (!m->n) return false;
    int64_t used = 0;
    for (size_t i = 0; i < m->n; i++) used += m->v[i];
    int64_t a = used / (int64_t)m->n;
    if (avg) *avg = a;
    *ratio = (double)a / (double)target;
    return true;
}

static int calc(const struct hpa_pod_sample *pods, size_t n, int32_t current, int64_t target,
                bool util, struct hpa_calc_result *out)
{
    memset(out, 0, sizeof *out);
    if (target <= 0) return BE_INVAL;
    struct vals m = {calloc(n ? n : 1, sizeof(int64_t)), calloc(n ? n : 1, sizeof(int64_t)), 0};
    size_t *missing = calloc(n ? n : 1, sizeof *missing), *unready = calloc(n ? n : 1, sizeof *unready);
    size_t nmissing = 0, nunready = 0;
    int rc = BE_NOMEM;
    if (!m.v || !m.req || !missing || !unready) goto out;
    rc = BE_INVAL;
    for (size_t i = 0; i < n; i++) {
        const struct hpa_pod_sample *p = &pods[i];
        if (p->state == HPA_POD_IGNORED) continue;
        if (util && p->request <= 0) goto out; /* "missing request for cpu" */
        if (p->state == HPA_POD_UNREADY) unready[nunready++] = i;
        else if (!p->has_metric) missing[nmissing++] = i;
        else {
            m.v[m.n] = p->value;
            m.req[m.n++] = p->request;
        }
    }
    double ratio;
    bool ok = util ? ratio_util(&m, target, &ratio, &out->utilization, &out->average)
                   : ratio_avg(&m, target, &ratio, &out->average);
    if (!ok) goto out; /* no metrics for any ready pod */
    rc = 0;
    out->with_metrics = m.n;
    out->replicas = current;
    bool up_with_unready = nunready > 0 && ratio > 1.0;
    if (!up_with_unready && !nmissing) {
        if (fabs(1.0 - ratio) > HPA_TOLERANCE) out->replicas = (int32_t)ceil(ratio * (double)m.n);
        goto out;
    }
    /* Missing pods: a full target's worth on a scale down, nothing on a
     * scale up; unready pods: nothing, and only on a scale up. */
    for (size_t k = 0; k < nmissing && ratio != 1.0; k++) {
        const struct hpa_pod_sample *p = &pods[missing[k]];
        int64_t fallback = 0;
        if (ratio < 1.0) fallback = util ? p->request * (target > 100 ? target : 100) / 100 : target;
        m.v[m.n] = fallback;
        m.req[m.n++] = p->request;
    }
    for (size_t k = 0; k < nunready && up_with_unready; k++) {
        m.v[m.n] = 0;
        m.req[m.n++] = pods[unready[k]].request;
    }
    double nratio;
    if (!(util ? ratio_util(&m, target, &nratio, NULL, NULL) : ratio_avg(&m, target, &nratio, NULL)))
        goto out;
    if (fabs(1.0 - nratio) <= HPA_TOLERANCE || (ratio < 1.0 && nratio > 1.0) ||
        (ratio > 1.0 && nratio < 1.0))
        goto out; /* the adjustment would reverse the direction, or there is nothing to do */
    int32_t want = (int32_t)ceil(nratio * (double)m.n);
    if ((nratio < 1.0 && want > current) || (nratio > 1.0 && want < current)) goto out;
    out->replicas = want;
out:
    free(m.v);
    free(m.req);
    free(missing);
    free(unready);
    return rc;
}

int hpa_calc_utilization(const struct hpa_pod_sample *pods, size_t n, int32_t current,
                         int64_t target_pct, struct hpa_calc_result *out)
{
    return calc(pods, n, current, target_pct, true, out);
}

int hpa_calc_average(const struct hpa_pod_sample *pods, size_t n, int32_t current,
                     int64_t target_avg, struct hpa_calc_result *out)
{
    return calc(pods, n, current, target_avg, false, out);
}

/* ---- behavior ------------------------------------------------------------------ */

void hpa_behavior_default(struct hpa_behavior *b, int64_t down_window_s)
{
    memset(b, 0, sizeof *b);
    b->up.window_s = 0;
    b->up.select = HPA_SELECT_MAX;
    b->up.pol[0] = (struct hpa_policy){HPA_POLICY_PODS, 4, 15};
    b->up.pol[1] = (struct hpa_policy){HPA_POLICY_PERCENT, 100, 15};
    b->up.npol = 2;
    b->down.window_s = down_window_s;
    b->down.select = HPA_SELECT_MAX;
    b->down.pol[0] = (struct hpa_policy){HPA_POLICY_PERCENT, 100, 15};
    b->down.npol = 1;
}

void hpa_history_free(struct hpa_history *h)
{
    free(h->recs);
    free(h->up);
    free(h->down);
    memset(h, 0, sizeof *h);
}

static int32_t change_in_period(const struct hpa_scale_event *ev, size_t n, int32_t period_s,
                                int64_t now_ms)
{
    int64_t cutoff = now_ms - (int64_t)period_s * 1000;
    int32_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].ts_ms > cutoff) sum += ev[i].change;
    return sum;
}

int32_t hpa_scale_up_limit(const struct hpa_history *h, const struct hpa_rules *r, int32_t current,
                           int64_t now_ms)
{
    if (r->select == HPA_SELECT_DISABLED) return current;
    bool pick_min = r->select == HPA_SELECT_MIN;
    int64_t result = pick_min ? INT32_MAX : INT32_MIN;
    for (size_t i = 0; i < r->npol; i++) {
        const struct hpa_policy *p = &r->pol[i];
        int64_t start = current - change_in_period(h->up, h->nup, p->period_s, now_ms), proposed;
        if (p->type == HPA_POLICY_PODS) proposed = start + p->value;
        else proposed = (int64_t)ceil((double)start * (1.0 + (double)p->value / 100.0));
        result = pick_min ? (proposed < result ? proposed : result) : (proposed > result ? proposed : result);
    }
    if (result > INT32_MAX) result = INT32_MAX;
    return (int32_t)result;
}

int32_t hpa_scale_down_limit(const struct hpa_history *h, const struct hpa_rules *r, int32_t current,
                             int64_t now_ms)
{
    if (r->select == HPA_SELECT_DISABLED) return current;
    /* The lowest replica count allowed: selectPolicy Min picks the policy
     * that removes least, i.e. the highest bound. */
    bool pick_max = r->select == HPA_SELECT_MIN;
    int64_t result = pick_max ? INT32_MIN : INT32_MAX;
    for (size_t i = 0; i < r->npol; i++) {
        const struct hpa_policy *p = &r->pol[i];
        int64_t start = current + change_in_period(h->down, h->ndown, p->period_s, now_ms), proposed;
        if (p->type == HPA_POLICY_PODS) proposed = start - p->value;
        else proposed = (int64_t)((double)start * (1.0 - (double)p->value / 100.0));
        result = pick_max ? (proposed > result ? proposed : result) : (proposed < result ? proposed : result);
    }
    if (result < INT32_MIN) result = INT32_MIN;
    return (int32_t)result;
}

/* Recommendations inside the windows bound the proposal: up by the lowest
 * recent one, down by the highest. The proposal is recorded, taking the
 * place of a sample older than both windows if there is one. */
static int stabilize(struct hpa_history *h, const struct hpa_behavior *b, int32_t current,
                     int32_t proposed, int64_t now_ms, int32_t *out)
{
    int64_t up_cut = now_ms - b->up.window_s * 1000, down_cut = now_ms - b->down.window_s * 1000;
    int32_t up_rec = proposed, down_rec = proposed;
    bool old = false;
    size_t old_i = 0;
    for (size_t i = 0; i < h->nrecs; i++) {
        const struct hpa_rec *r = &h->recs[i];
        if (r->ts_ms > up_cut && r->replicas < up_rec) up_rec = r->replicas;
        if (r->ts_ms > down_cut && r->replicas > down_rec) down_rec = r->replicas;
        if (r->ts_ms < up_cut && r->ts_ms < down_cut) {
            old = true;
            old_i = i;
        }
    }
    int32_t rec = current;
    if (rec < up_rec) rec = up_rec;
    if (rec > down_rec) rec = down_rec;
    if (old) {
        h->recs[old_i] = (struct hpa_rec){now_ms, proposed};
    } else {
        if (h->nrecs == h->caprecs) {
            size_t cap = h->caprecs ? h->caprecs * 2 : 8;
            struct hpa_rec *v = realloc(h->recs, cap * sizeof *v);
            if (!v) return BE_NOMEM;
            h->recs = v;
            h->caprecs = cap;
        }
        h->recs[h->nrecs++] = (struct hpa_rec){now_ms, proposed};
    }
    *out = rec;
    return 0;
}

int hpa_decide(struct hpa_history *h, const struct hpa_behavior *b, int32_t min, int32_t max,
               int32_t current, int32_t proposed, int64_t now_ms, struct hpa_decision *d)
{
    memset(d, 0, sizeof *d);
    int32_t st;
    int rc = stabilize(h, b, current, proposed, now_ms, &st);
    if (rc) return rc;
    d->stabilized = st;
    if (st != proposed) {
        d->able_reason = proposed >= current ? "ScaleUpStabilized" : "ScaleDownStabilized";
        d->able_message = proposed >= current
            ? "recent recommendations were lower than current one, applying the lowest recent recommendation"
            : "recent recommendations were higher than current one, applying the highest recent recommendation";
    } else {
        d->able_reason = "ReadyForNewScale";
        d->able_message = "recommended size matches current size";
    }
    int32_t want = st;
    d->limit_reason = "DesiredWithinRange";
    d->limit_message = "the desired count is within the acceptable range";
    if (st > current) {
        int32_t lim = hpa_scale_up_limit(h, &b->up, current, now_ms);
        if (lim < current) lim = current;
        int32_t top = max;
        const char *why = "TooManyReplicas", *msg = "the desired replica count is more than the maximum replica count";
        if (top > lim) {
            top = lim;
            why = "ScaleUpLimit";
            msg = "the desired replica count is increasing faster than the maximum scale rate";
        }
        if (st > top) {
            want = top;
            d->limit_reason = why;
            d->limit_message = msg;
        }
    } else if (st < current) {
        int32_t lim = hpa_scale_down_limit(h, &b->down, current, now_ms);
        if (lim > current) lim = current;
        int32_t bottom = min;
        const char *why = "TooFewReplicas", *msg = "the desired replica count is less than the minimum replica count";
        if (bottom < lim) {
            bottom = lim;
            why = "ScaleDownLimit";
            msg = "the desired replica count is decreasing faster than the maximum scale rate";
        }
        if (st < bottom) {
            want = bottom;
            d->limit_reason = why;
            d->limit_message = msg;
        }
    }
    d->replicas = want;
    d->limited = want != st;
    return 0;
}

static int32_t longest_period(const struct hpa_rules *r)
{
    int32_t p = 0;
    for (size_t i = 0; i < r->npol; i++)
        if (r->pol[i].period_s > p) p = r->pol[i].period_s;
    return p;
}

static int add_event(struct hpa_scale_event **v, size_t *n, size_t *cap, const struct hpa_rules *r,
                     int32_t change, int64_t now_ms)
{
    int64_t cutoff = now_ms - (int64_t)longest_period(r) * 1000;
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].ts_ms < cutoff) (*v)[i].outdated = true;
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].outdated) {
            (*v)[i] = (struct hpa_scale_event){now_ms, change, false};
            return 0;
        }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        struct hpa_scale_event *g = realloc(*v, nc * sizeof *g);
        if (!g) return BE_NOMEM;
        *v = g;
        *cap = nc;
    }
    (*v)[(*n)++] = (struct hpa_scale_event){now_ms, change, false};
    return 0;
}

int hpa_record_scale(struct hpa_history *h, const struct hpa_behavior *b, int32_t prev,
                     int32_t next, int64_t now_ms)
{
    if (next > prev) return add_event(&h->up, &h->nup, &h->capup, &b->up, next - prev, now_ms);
    if (next < prev) return add_event(&h->down, &h->ndown, &h->capdown, &b->down, prev - next, now_ms);
    return 0;
}
