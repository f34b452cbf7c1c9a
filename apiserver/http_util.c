/* http_util.c: the I/O-free parts of the HTTP server: percent-decoding of
 * paths and query strings, header and query lookups on a parsed request,
 * reason phrases, and the Kubernetes Status body of server-made errors. */
#include "apiserver/http_int.h"
#include "apiserver/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes the escape at s (s[0] == '%'); returns the byte or -1. */
static int escape_at(const char *s, size_t left)
{
    if (left < 3)
        return -1;
    int hi = hexval(s[1]), lo = hexval(s[2]);
    if (hi < 0 || lo < 0)
        return -1;
    return hi * 16 + lo;
}

long http_path_decode(char *s)
{
    size_t n = strlen(s), r = 0, w = 0;
    while (r < n) {
        if (s[r] == '%') {
            int b = escape_at(s + r, n - r);
            if (b <= 0)
                return -1;
            s[w++] = (char)b;
            r += 3;
        } else {
            s[w++] = s[r++];
        }
    }
    s[w] = '\0';
    return (long)w;
}

/* Next decoded byte of s[*i..n) with '+' as space; invalid escapes literal. */
static int query_next(const char *s, size_t n, size_t *i)
{
    char ch = s[*i];
    if (ch == '+') {
        (*i)++;
        return ' ';
    }
    if (ch == '%') {
        int b = escape_at(s + *i, n - *i);
        if (b >= 0) {
            *i += 3;
            return b;
        }
    }
    (*i)++;
    return (unsigned char)ch;
}

void http_query_decode(const char *s, size_t n, char *out, size_t outcap)
{
    size_t i = 0, w = 0;
    if (outcap == 0)
        return;
    while (i < n && w + 1 < outcap)
        out[w++] = (char)query_next(s, n, &i);
    out[w] = '\0';
}

bool http_query_key_eq(const char *s, size_t n, const char *key)
{
    size_t i = 0, k = 0;
    while (i < n) {
        int b = query_next(s, n, &i);
        if (key[k] == '\0' || (unsigned char)key[k] != b)
            return false;
        k++;
    }
    return key[k] == '\0';
}

const char *http_req_header(const http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

bool http_req_query(const http_req_t *req, const char *key, char *buf,
                    size_t buflen)
{
    const char *q = req->query ? req->query : "";
    while (*q) {
        const char *end = strchr(q, '&');
        size_t len = end ? (size_t)(end - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        if (len > 0 && http_query_key_eq(q, klen, key)) {
            if (buf && buflen > 0) {
                if (eq)
                    http_query_decode(eq + 1, len - klen - 1, buf, buflen);
                else
                    buf[0] = '\0';
            }
            return true;
        }
        if (!end)
            break;
        q = end + 1;
    }
    return false;
}

const char *http_reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    }
    return "Unknown";
}

/* Appends s JSON-escaped to buf at *w (bounded by cap, leaving room for NUL). */
static void json_escape(char *buf, size_t cap, size_t *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char tmp[7];
        size_t n = 0;
        if (ch == '"' || ch == '\\') {
            tmp[n++] = '\\';
            tmp[n++] = (char)ch;
        } else if (ch < 0x20) {
            memcpy(tmp, "\\u00", 4);
            n = 4;
            tmp[n++] = hex[ch >> 4];
            tmp[n++] = hex[ch & 15];
        } else {
            tmp[n++] = (char)ch;
        }
        if (*w + n + 1 > cap)
            return;
        memcpy(buf + *w, tmp, n);
        *w += n;
    }
}

static void append(char *buf, size_t cap, size_t *w, const char *s)
{
    size_t n = strlen(s);
    if (*w + n + 1 > cap)
        n = cap - *w - 1;
    memcpy(buf + *w, s, n);
    *w += n;
}

size_t http_status_json(char *buf, size_t buflen, int code, const char *reason,
                        const char *message)
{
    size_t w = 0;
    char num[16];
    if (buflen == 0)
        return 0;
    append(buf, buflen, &w,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
           "\"status\":\"Failure\",\"message\":\"");
    json_escape(buf, buflen, &w, message);
    append(buf, buflen, &w, "\",\"reason\":\"");
    json_escape(buf, buflen, &w, reason);
    snprintf(num, sizeof num, "%d", code);
    append(buf, buflen, &w, "\",\"code\":");
    append(buf, buflen, &w, num);
    append(buf, buflen, &w, "}");
    buf[w] = '\0';
    return w;
}
