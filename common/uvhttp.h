/* uvhttp.h: an asynchronous HTTP/1.1 client on a libuv loop (llhttp parses
 * the responses), for the agent (API calls, watches, probes) and for berthd
 * (proxying pods/NAME/log to agents).
 *
 * One uvhttp_t talks to one base URL ("http://host:port"). It keeps a small
 * pool of keep-alive connections; requests beyond the pool wait in a FIFO
 * queue. A request that finds its reused connection closed by the server
 * before any response byte arrived is retried once on a fresh connection.
 * Streams (watches, `logs -f`) get a connection of their own that is never
 * reused. Nothing here blocks the loop: names other than numeric addresses
 * and "localhost" are resolved with uv_getaddrinfo.
 *
 * Callbacks: a function that returns an error never calls its callback; one
 * that returns 0 calls it exactly once, always from the loop (never from
 * inside the call that started the request), except where noted for cancel
 * and close. When rc < 0 the body argument holds a human-readable message
 * ("connect to 127.0.0.1:7070: connection refused") and status is 0. */
#ifndef BERTH_UVHTTP_H
#define BERTH_UVHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct uvhttp uvhttp_t;
typedef struct uvhttp_stream uvhttp_stream_t;

/* rc: 0 or BE_TIMEOUT, BE_UNAVAIL (connect/reset/closed), BE_PROTO (bad
 * response), BE_TOOBIG (body over max_body), BE_SHUTDOWN (client closed or
 * request cancelled). status: the HTTP status when rc == 0. body: the
 * response body (NUL-terminated, valid only during the call) or the error
 * message. */
typedef void (*uvhttp_cb)(void *data, int rc, int status, const char *body, size_t len);

/* Inside a uvhttp_cb: the response's Warning header values, '\n'-separated,
 * or NULL (none, or a failed request). Valid until the callback returns. */
const char *uvhttp_response_warnings(void);

struct uvhttp_config {
    unsigned timeout_ms;         /* 0: 30000: per request, from submit to answer */
    unsigned connect_timeout_ms; /* 0: 5000 */
    unsigned max_conns;          /* 0: 4 pooled keep-alive connections */
    unsigned idle_ms;            /* 0: 30000: idle pooled connections closed */
    size_t max_body;             /* 0: 64 MiB */
};

/* Creates a client for base ("http://host[:port][/]"). Returns 0, or BE_INVAL
 * (bad URL) / BE_NOMEM with a message in err. cfg may be NULL. */
int uvhttp_new(uv_loop_t *loop, const char *base, const struct uvhttp_config *cfg,
               uvhttp_t **out, char *err, size_t errlen);

/* "http://host:port" as given (without trailing slash). */
const char *uvhttp_base(const uvhttp_t *c);

/* Sends one request. path includes the query. body may be NULL (len 0) and
 * is copied; content_type may be NULL. Returns 0 (cb will be called) or
 * BE_SHUTDOWN / BE_NOMEM / BE_INVAL. */
int uvhttp_request(uvhttp_t *c, const char *method, const char *path,
                   const char *content_type, const char *body, size_t len,
                   uvhttp_cb cb, void *data);

/* Streaming: on_data gets each piece of a 2xx body (de-chunked) as it
 * arrives; returning non-zero ends the stream like uvhttp_stream_cancel. A
 * non-2xx body is collected and passed to on_end instead. on_end is called
 * exactly once: rc 0 when the server ended the body (status = HTTP status,
 * body = collected non-2xx body or empty), or an error (BE_SHUTDOWN after
 * cancel or close, BE_TIMEOUT when idle_timeout_ms passed without a byte). */
struct uvhttp_stream_opts {
    const char *method;          /* NULL: "GET" */
    const char *path;
    unsigned idle_timeout_ms;    /* 0: none (connect timeout still applies) */
    int (*on_data)(void *data, const char *buf, size_t len);
    uvhttp_cb on_end;
    void *data;
};

/* Returns 0 and the stream handle (valid until on_end has been called), or
 * an error without calling anything. */
int uvhttp_stream(uvhttp_t *c, const struct uvhttp_stream_opts *opts, uvhttp_stream_t **out);

/* Ends a stream: on_end(BE_SHUTDOWN) is called before this returns, unless
 * it already was (then the handle must not be used anyway). Safe to call
 * from inside on_data. */
void uvhttp_stream_cancel(uvhttp_stream_t *s);

/* Fails every pending request and stream with BE_SHUTDOWN (their callbacks
 * run before this returns), closes all connections, and calls cb (may be
 * NULL) from the loop once every handle is closed; then frees the client. */
void uvhttp_close(uvhttp_t *c, void (*cb)(void *data), void *data);

/* Splits "http://host:port/..." into host and port (default 80). Returns 0
 * or BE_INVAL. */
int uvhttp_parse_url(const char *url, char *host, size_t hostlen, int *port);

#endif
