/* uvhttp_parse.c: llhttp callbacks of the asynchronous client's response
 * parser (see uvhttp.c). They fill the request on the connection: status,
 * body (or stream it to on_data), Warning header values; other headers are
 * not looked at. on_message_complete pauses the parser so that the request
 * is finished outside llhttp_execute. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"
#include "common/uvhttp_int.h"

static int append_body(struct uvh_req *r, const char *at, size_t len, size_t max)
{
    if (r->blen + len > max) {
        r->toobig = true;
        return -1;
    }
    if (r->blen + len + 1 > r->bcap) {
        size_t cap = r->bcap ? r->bcap : 1024;
        while (cap < r->blen + len + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return -1;
        r->body = nb;
        r->bcap = cap;
    }
    memcpy(r->body + r->blen, at, len);
    r->blen += len;
    r->body[r->blen] = '\0';
    return 0;
}

/* ---- parser callbacks ------------------------------------------------- */

static int on_headers_complete(llhttp_t *p)
{
    struct uvh_conn *k = p->data;
    if (!k->req)
        return -1;
    k->req->status = p->status_code;
    if (k->req->stream && p->status_code >= 200 && p->status_code < 300)
        k->req->streaming = true;
    return k->req->head ? 1 : 0;
}

/* Warning headers are kept (warnbuf.h) for uvhttp_response_warnings();
 * other headers are not looked at. */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct uvh_req *r = ((struct uvh_conn *)p->data)->req;
    for (size_t i = 0; r && i < len && r->hname_len < sizeof r->hname - 1; i++)
        r->hname[r->hname_len++] = at[i];
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct uvh_req *r = ((struct uvh_conn *)p->data)->req;
    if (!r) return 0;
    r->hname[r->hname_len] = '\0';
    r->in_warning = r->hname_len == 7 && !strcasecmp(r->hname, "warning");
    r->hname_len = 0;
    if (r->in_warning) warnbuf_next(&r->warnings);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct uvh_req *r = ((struct uvh_conn *)p->data)->req;
    return r && r->in_warning ? warnbuf_append(&r->warnings, at, len) : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct uvh_conn *k = p->data;
    struct uvh_req *r = k->req;
    if (!r)
        return -1;
    if (r->streaming) {
        if (r->on_data(r->data, at, len) != 0 && k->req == r)
            uvhttp_stream_cancel((uvhttp_stream_t *)r);
        return k->req == r ? 0 : -1;
    }
    return append_body(r, at, len, k->c->cfg.max_body);
}

static int on_message_complete(llhttp_t *p)
{
    struct uvh_conn *k = p->data;
    k->done = true;
    return HPE_PAUSED;
}

void uvh_parser_settings(llhttp_settings_t *s)
{
    llhttp_settings_init(s);
    s->on_header_field = on_header_field;
    s->on_header_field_complete = on_header_field_complete;
    s->on_header_value = on_header_value;
    s->on_headers_complete = on_headers_complete;
    s->on_body = on_body;
    s->on_message_complete = on_message_complete;
}
