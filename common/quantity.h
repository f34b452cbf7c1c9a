/* quantity.h: Kubernetes resource quantities ("500m", "2", "128Mi", "1G",
 * "1.5", "1e3"). Values are held as integer milli-units so cpu ("250m") and
 * memory ("64Mi" = 67108864000 milli-bytes) share one parser; anything that
 * does not fit in int64 milli-units, has a bad suffix or a sign where none is
 * allowed is rejected with BE_INVAL. */
#ifndef BERTH_QUANTITY_H
#define BERTH_QUANTITY_H

#include <stdint.h>

/* Parses into milli-units: "500m" -> 500, "2" -> 2000, "1Ki" -> 1024000.
 * Fractions below a milli-unit round up, as Kubernetes does. */
int quantity_parse(const char *s, int64_t *milli);

/* Convenience: cpu in millicores, memory in bytes (rounded up). */
int quantity_cpu_millis(const char *s, int64_t *millicores);
int quantity_bytes(const char *s, int64_t *bytes);

/* Formats for humans: cpu "250m" / "2"; bytes "128Mi" / "1Gi" / "1500". */
void quantity_format_cpu(int64_t millicores, char *buf, int len);
void quantity_format_bytes(int64_t bytes, char *buf, int len);

#endif
