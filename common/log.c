/* log.c: see log.h. Writes one fprintf per line so lines never interleave. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_INFO;

void log_set_level(enum log_level level) { current_level = level; }

void log_init_from_env(void)
{
    const char *v = getenv("BERTH_LOG");
    if (!v) return;
    if (!strcmp(v, "debug")) current_level = LOG_DEBUG;
    else if (!strcmp(v, "info")) current_level = LOG_INFO;
    else if (!strcmp(v, "warn")) current_level = LOG_WARN;
    else if (!strcmp(v, "error")) current_level = LOG_ERROR;
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < current_level) return;
    char line[1024], ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %-5s %s: %s\n", ts, now.tv_nsec / 1000000,
            names[level], component, line);
}
