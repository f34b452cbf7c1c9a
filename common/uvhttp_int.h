/* uvhttp_int.h: the internals uvhttp.c and uvhttp_parse.c share. Not for
 * other modules: they use uvhttp.h. */
#ifndef BERTH_UVHTTP_INT_H
#define BERTH_UVHTTP_INT_H

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/uvhttp.h"
#include "common/warnbuf.h"

#define UVH_RBUF 16384

struct uvh_conn;
struct uvh_write;

struct uvh_req {
    struct uvh_req *next;
    uvhttp_t *c;
    struct uvh_conn *conn;
    char *wbuf;
    size_t wlen;
    uvhttp_cb cb;
    void *data;
    uint64_t deadline;       /* loop ms; 0: none */
    bool retried, head, stream, streaming;
    int (*on_data)(void *data, const char *buf, size_t len);
    unsigned idle_ms;
    int status;
    char *body;
    size_t blen, bcap;
    bool got_bytes, toobig;
    int fail_rc;             /* deferred failure */
    struct uvh_write *wr;    /* write of wbuf still in flight (not a copy) */
    char msg[200];
    char hname[8];           /* start of the header name being read */
    size_t hname_len;
    bool in_warning;
    struct warnbuf warnings; /* Warning header values */
};

enum conn_state { C_RESOLVING, C_CONNECTING, C_BUSY, C_IDLE, C_CLOSING };

struct uvh_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    uvhttp_t *c;
    struct uvh_conn *next;
    enum conn_state state;
    bool tcp_init, gai_pending, pooled, done;
    int refs;
    unsigned served;
    llhttp_t parser;
    struct uvh_req *req;
    char rbuf[UVH_RBUF];
};

struct uvhttp {
    uv_loop_t *loop;
    char base[256], host[256], hosthdr[300];
    int port;
    struct uvhttp_config cfg;
    llhttp_settings_t settings;
    struct uvh_conn *conns;
    unsigned npooled, nidle;       /* idle ones sit at the front of conns */
    struct uvh_req *qhead, *qtail; /* waiting for a connection */
    struct uvh_req *dead;          /* deferred failures */
    uv_timer_t qtimer;
    struct sockaddr_storage addr;
    bool have_addr, closing;
    int live;                      /* qtimer + conns not yet freed */
    void (*close_cb)(void *data);
    void *close_data;
};

struct uvh_write {
    uv_write_t w;
    char *own;          /* freed when the write completes */
    struct uvh_req *r;  /* the request whose wbuf is being written */
};

/* uvhttp_parse.c: the llhttp settings of a response parser, whose data is
 * the struct uvh_conn. */
void uvh_parser_settings(llhttp_settings_t *s);

#endif
