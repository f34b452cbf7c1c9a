/* http.h: the HTTP/1.1 server of berthd (libuv TCP + llhttp).
 *
 * Keep-alive, pipelined requests answered in order (the parser pauses while a
 * request is being handled), chunked streaming responses for watches, and the
 * limits that keep hostile clients from crashing or stalling the loop: body
 * size (413), header bytes and count (431), a deadline for a request to
 * arrive in full (408, then close), an idle timeout for keep-alive
 * connections, and a cap on open connections (new ones beyond it get 503 and
 * are closed). None of these limits ever blocks the loop.
 *
 * Lifecycle of a request: the server calls the handler once per complete
 * request. The handler must answer exactly once, now or later, with
 * http_respond() or by http_stream_begin() ... http_stream_end(). If the
 * client goes away first the request stays valid until it is answered (the
 * answer is then dropped); a streaming handler is told through the
 * on_abort callback it set, and must still call http_stream_end(). */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct http_server http_server_t;
typedef struct http_req http_req_t;

struct http_header {
    char *name;   /* lower-cased */
    char *value;
};

struct http_req {
    /* Parsed request; owned by the server, valid until answered. */
    const char *method;      /* "GET", "PUT", ... */
    char *path;              /* percent-decoded path without the query */
    char *query;             /* raw query string without '?', or "" */
    struct http_header *headers;
    size_t nheaders;
    char *body;              /* NUL-terminated (the NUL is not counted) */
    size_t body_len;
    char remote[64];         /* "ip:port" of the client */
    void *user;              /* free for the handler */
};

typedef void (*http_handler_fn)(void *data, http_req_t *req);

struct http_server_config {
    const char *host;              /* "127.0.0.1" or "0.0.0.0" */
    int port;
    size_t max_body;               /* 0: 3 MiB */
    size_t max_header_bytes;       /* 0: 64 KiB (request line + headers) */
    unsigned max_headers;          /* 0: 100 */
    unsigned request_timeout_ms;   /* 0: 30000: whole request must arrive */
    unsigned idle_timeout_ms;      /* 0: 120000: keep-alive idle */
    unsigned max_conns;            /* 0: 10000 */
    size_t max_stream_pending;     /* 0: 16 MiB unsent bytes before a stream
                                      counts as stalled (http_stream_write
                                      then fails and the conn is closed) */
};

/* Binds and listens. Returns 0 or a BE_* code with a message in errbuf
 * (e.g. "127.0.0.1:7070: address already in use"). */
int http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
                      http_handler_fn handler, void *data,
                      http_server_t **out, char *errbuf, size_t errlen);

/* The port the server listens on (useful with cfg->port == 0), or a
 * negative BE_* code. */
int http_server_port(const http_server_t *srv);

/* Stops listening, closes every connection (aborting streams), then calls
 * cb. An answer still being written is flushed first (for at most
 * HTTP_LINGER_MS); requests not yet answered are answered into the void. */
void http_server_stop(http_server_t *srv, void (*cb)(void *data), void *data);

/* Returns the header value (name compared case-insensitively) or NULL. */
const char *http_req_header(const http_req_t *req, const char *name);

/* Looks up a query parameter, percent-decoded, into buf. Returns true if it
 * is present (an empty value counts as present). */
bool http_req_query(const http_req_t *req, const char *key, char *buf,
                    size_t buflen);

/* Answers with a complete response. body is copied. extra_headers is NULL or
 * a string of "Name: value\r\n" lines. */
void http_respond(http_req_t *req, int status, const char *content_type,
                  const char *body, size_t len, const char *extra_headers);

/* As http_respond, but takes ownership of a malloc'd body. */
void http_respond_take(http_req_t *req, int status, const char *content_type,
                       char *body, size_t len);

/* As http_respond_take, but the body sent is body[0, at) + ins + body[at,
 * len): ins (copied) is inserted without copying the body. */
void http_respond_take_ins(http_req_t *req, int status, const char *content_type,
                           char *body, size_t len, size_t at, const char *ins,
                           size_t ins_len);

/* Streaming (chunked transfer encoding). The connection is not reused after
 * a stream. on_abort (may be NULL) is called once if the client disconnects,
 * the stream stalls, or the server stops. */
void http_stream_begin(http_req_t *req, int status, const char *content_type,
                       void (*on_abort)(void *data), void *data);
/* Queues one chunk (copied). Returns 0, or BE_UNAVAIL if the client is gone
 * or has more than max_stream_pending bytes unread (then on_abort fires). */
int http_stream_write(http_req_t *req, const char *buf, size_t len);
size_t http_stream_pending(const http_req_t *req);
/* Ends the stream (terminating chunk if the client is still there) and
 * releases the request. */
void http_stream_end(http_req_t *req);

struct http_server_stats {
    unsigned long long conns_accepted, conns_rejected, conns_open;
    unsigned long long requests, timeouts, too_large, bad_requests;
};
void http_server_stats(const http_server_t *srv, struct http_server_stats *st);

#endif
