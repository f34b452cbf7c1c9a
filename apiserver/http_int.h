/* http_int.h: internals of the HTTP server (apiserver/http*.c).
 *
 * First the pure helpers (percent-decoding, reason phrases, the Kubernetes
 * Status body of server-made errors), then the connection and server structs
 * and the functions the server's files share. Not part of the API: nothing
 * outside apiserver/http*.c includes this. */
#ifndef BERTH_HTTP_INT_H
#define BERTH_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>

/* Decodes a path in place (%XX escapes; '+' stays '+'). Returns the new
 * length, or -1 for an invalid escape or an escape that decodes to NUL. */
long http_path_decode(char *s);

/* Decodes s[0..n) into out (at most outcap-1 bytes, always NUL-terminated if
 * outcap > 0), '+' as space; invalid escapes are copied literally. */
void http_query_decode(const char *s, size_t n, char *out, size_t outcap);

/* True if the query component s[0..n), decoded, equals key. */
bool http_query_key_eq(const char *s, size_t n, const char *key);

/* "OK", "Not Found", ...; "Unknown" for codes without a phrase here. */
const char *http_reason_phrase(int status);

/* Writes a Kubernetes Status object for a failure into buf. Returns its
 * length (truncated to buflen-1 if the buffer is too small). */
size_t http_status_json(char *buf, size_t buflen, int code, const char *reason,
                        const char *message);


/* ---- server internals shared by http.c, http_parse.c, http_resp.c ------ */

#include <stdint.h>
#include <uv.h>

#include "apiserver/http.h"
#include "llhttp.h"

#define HTTP_READ_BUF (64 * 1024)
#define HTTP_READ_HIGH (64 * 1024)  /* buffered unparsed bytes that stop reading */
#define HTTP_KEEP_BUF (16 * 1024)   /* larger per-connection buffers are released */
#define HTTP_LINGER_MS 500u
#define HTTP_BACKLOG 1024

enum timer_mode { TM_NONE, TM_IDLE, TM_REQ, TM_WRITE, TM_LINGER };

struct http_buf {
    char *p;
    size_t len, cap;
};

struct hdr_off {
    size_t name, value;
    bool has_value;
};

struct http_wr {
    uv_write_t w;
    struct http_conn *c;
    char *take;   /* body owned by this write (http_respond_take) */
    char data[];  /* headers, then a copied body or chunk */
};

struct http_conn {
    http_req_t req;
    http_server_t *srv;
    struct http_conn *prev, *next; /* server's list: conns with handles */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    llhttp_t parser;

    struct http_buf in;       /* received, not parsed: in.p[in_pos..len) */
    size_t in_pos;
    struct http_buf head;     /* url, header names and values, NUL-ended */
    struct http_buf body;
    struct hdr_off *hoff;
    struct http_header *hdrs;
    size_t nhdr, hdr_cap, head_bytes;
    int fail_code;            /* set by a parser callback that rejects */
    const char *fail_msg;
    unsigned req_seq, timer_seq;
    enum timer_mode tmode;
    int handles;
    struct http_wr *resp_wr;  /* unflushed response write, if any */
    struct http_conn *abort_next; /* in the server's deferred-abort queue */
    void (*on_abort)(void *data);
    void *abort_data;

    bool in_msg, msg_ready, headers_done, in_field, in_value;
    bool req_active, keep_alive, is_head, in_pump;
    bool streaming, abort_fired, abort_queued;
    bool reading, peer_eof, lingering, closing, closed, rejected;
    char zero[1];
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t defer;         /* runs deferred on_abort calls */
    struct http_conn *abort_q;
    struct http_server_config cfg;
    http_handler_fn handler;
    void *data;
    llhttp_settings_t settings;
    struct http_conn *conns;
    size_t nconns;            /* allocated connections, closed or not */
    unsigned handles;         /* open handles, the listener included */
    bool stopping, stopped, in_stop_cb;
    void (*stop_cb)(void *data);
    void *stop_data;
    struct http_server_stats st;
    char rbuf[HTTP_READ_BUF];
};

#define CONN_OF_REQ(r) \
    ((struct http_conn *)((char *)(r) - offsetof(struct http_conn, req)))

int http_buf_reserve(struct http_buf *b, size_t extra);
int http_buf_append(struct http_buf *b, const char *d, size_t n);
/* Empties b, releasing its memory if it grew large. */
void http_buf_reset(struct http_buf *b);

/* Fills in the llhttp callbacks of the server (http_parse.c). */
void http_parser_settings_init(llhttp_settings_t *s);

/* Queues bufs; wr is freed in the callback. On failure closes c (which can
 * fire on_abort) and returns the libuv error. */
int http_conn_write(struct http_conn *c, struct http_wr *wr, uv_buf_t *bufs,
                    unsigned n);
/* A response head in a new write request with room for `room` more bytes.
 * clen >= 0: Content-Length; -1: chunked; -2: no length (204, 304). */
struct http_wr *http_wr_head(int status, const char *ctype, const char *extra,
                             long long clen, bool keep_alive, size_t room,
                             size_t *hlen);
void http_send_continue(struct http_conn *c);
/* Closes both handles; fires on_abort of an open stream. */
void http_conn_close(struct http_conn *c);
/* Final answer queued: flush it, shut down the write side, drop input. */
void http_conn_linger(struct http_conn *c);
/* Brings reading and the timer in line with the connection's state. */
void http_conn_update(struct http_conn *c);
/* Parses buffered input, unless already parsing further up the stack. */
void http_conn_pump(struct http_conn *c);
/* The handler is done with the request (answer sent or dropped). */
void http_conn_release(struct http_conn *c);
/* Calls on_abort once (must be the caller's last use of c). */
void http_fire_abort(struct http_conn *c);
/* Calls on_abort later from the loop (never from inside the caller). */
void http_defer_abort(struct http_conn *c);

#endif
