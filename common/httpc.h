/* httpc.h: a small blocking HTTP/1.1 client for berthctl, tests and
 * benchmarks (not for berthd or the agent, which use their libuv loop).
 *
 * Parses responses with llhttp, so Content-Length, chunked encoding and
 * keep-alive all work. One httpc_t is one connection to one base URL
 * ("http://host:port"); it reconnects when the server closed it. */
#ifndef BERTH_HTTPC_H
#define BERTH_HTTPC_H

#include <stddef.h>

typedef struct httpc httpc_t;

struct httpc_response {
    int status;
    char *body;          /* malloc'd, NUL-terminated */
    size_t body_len;
    char *content_type;  /* malloc'd or NULL */
    char *warnings;      /* Warning header values, '\n'-separated; malloc'd or NULL */
};

/* base: "http://127.0.0.1:7070" (trailing slash allowed). NULL on a bad URL
 * (message in errbuf). timeout_ms bounds connect and each read (0: 30 s). */
httpc_t *httpc_new(const char *base, unsigned timeout_ms, char *errbuf, size_t errlen);
void httpc_free(httpc_t *c);

/* Sends one request and reads the whole response. path includes the query.
 * body may be NULL. Returns 0 and fills resp (free with httpc_response_free),
 * or a BE_* code with a message ("cannot connect to http://...: Connection
 * refused"). */
int httpc_request(httpc_t *c, const char *method, const char *path,
                  const char *content_type, const char *body, size_t body_len,
                  struct httpc_response *resp, char *errbuf, size_t errlen);
void httpc_response_free(struct httpc_response *resp);

/* Streams a response body: on_data is called with each piece of the
 * (de-chunked) body as it arrives; returning non-zero stops. Used for watch
 * and `logs -f`. *status gets the HTTP status; a non-2xx body is collected
 * into err_body (malloc'd) instead of being streamed. No read timeout. */
int httpc_stream(httpc_t *c, const char *method, const char *path,
                 int (*on_data)(void *data, const char *buf, size_t len),
                 void *data, int *status, char **err_body,
                 char *errbuf, size_t errlen);

#endif
