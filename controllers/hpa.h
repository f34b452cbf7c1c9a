/* hpa.h: settings of the HorizontalPodAutoscaler controller (controllers/
 * hpa.c) that berthd sets before the controller manager starts. They are
 * process-wide because the manager's table of controllers has no per-
 * controller configuration; call them from the loop thread, before or
 * between syncs. */
#ifndef BERTH_HPA_H
#define BERTH_HPA_H

#include "common/podmetrics.h"

/* How often each HPA is reconciled (berthd --hpa-sync-period-s). 0: the
 * default, 15 s. */
void ctrl_hpa_set_sync_period_ms(unsigned ms);

/* The metrics cache the controller reads. NULL (the default): the
 * process-wide cache the API server fills (podmetrics_global()). Tests give
 * their own. */
void ctrl_hpa_set_metrics(podmetrics_t *pm);

#endif
