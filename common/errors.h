/* errors.h: the one error scheme of Berth.
 *
 * Functions return 0 on success or a negative BE_* code, like libuv. The codes
 * map one-to-one onto the Kubernetes Status reasons an API client sees, so an
 * error can travel from the store to an HTTP response without translation
 * tables in between. be_strerror() gives a short message, be_reason() the
 * Kubernetes reason and be_http_code() the HTTP status. */
#ifndef BERTH_ERRORS_H
#define BERTH_ERRORS_H

/* X(name, value, http code, Kubernetes reason, message) */
#define BE_ERRNO_MAP(X)                                                        \
    X(NOMEM, -1, 500, "InternalError", "out of memory")                       \
    X(INVAL, -2, 400, "BadRequest", "invalid argument")                       \
    X(NOTFOUND, -3, 404, "NotFound", "not found")                             \
    X(EXISTS, -4, 409, "AlreadyExists", "already exists")                     \
    X(CONFLICT, -5, 409, "Conflict", "revision conflict")                     \
    X(NOTLEADER, -6, 503, "ServiceUnavailable", "not the raft leader")        \
    X(IO, -7, 500, "InternalError", "I/O error")                              \
    X(TOOBIG, -8, 413, "RequestEntityTooLarge", "too large")                  \
    X(GONE, -9, 410, "Expired", "revision compacted")                         \
    X(SHUTDOWN, -10, 503, "ServiceUnavailable", "shutting down")              \
    X(UNAVAIL, -11, 503, "ServiceUnavailable", "unavailable")                 \
    X(INVALID, -12, 422, "Invalid", "invalid object")                         \
    X(PROTO, -13, 502, "InternalError", "protocol error")                     \
    X(TIMEOUT, -14, 504, "Timeout", "timed out")                              \
    X(METHOD, -15, 405, "MethodNotAllowed", "method not allowed")             \
    X(INTERNAL, -16, 500, "InternalError", "internal error")                  \
    X(FORBIDDEN, -17, 403, "Forbidden", "forbidden")                          \
    X(UNSUPPORTED, -18, 415, "UnsupportedMediaType", "unsupported media type") \
    X(NOSPACE, -19, 500, "InternalError", "database space exceeded")

enum {
#define BE_ENUM_(name, val, code, reason, msg) BE_##name = val,
    BE_ERRNO_MAP(BE_ENUM_)
#undef BE_ENUM_
};

const char *be_strerror(int rc);   /* "not found"; "unknown error" for others */
const char *be_name(int rc);       /* "BE_NOTFOUND" */
const char *be_reason(int rc);     /* Kubernetes Status reason: "NotFound" */
int be_http_code(int rc);          /* 404 */

#endif
