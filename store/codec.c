/* codec.c: encoding and strictly bounds-checked decoding of mutation batches.
 *
 * Layout of one mutation record after the 8-byte entry header:
 *   u8 op | u8 flags (1: node, 2: owner, 4: json present) | u16 zero |
 *   u32 len resource, ns, name, node, owner, json | u64 expect_rev |
 *   resource NUL ns NUL name NUL [node NUL] [owner NUL] [json NUL]
 * The decoder walks the buffer with a cursor and a remaining-bytes count and
 * never reads past it; a record that does not add up, a reserved field that
 * is not zero, a string with an embedded NUL or trailing bytes after the
 * last record (other than up to 7 zero bytes of padding: raft's libuv log
 * silently corrupts its segments unless entry lengths are multiples of 8)
 * make the whole entry malformed. */
#include "store/codec.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "store/le.h"

enum { F_NODE = 1, F_OWNER = 2 };

static size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

size_t codec_mut_size(const struct store_mut *m)
{
    if (m->op < STORE_CREATE || m->op > STORE_DELETE)
        return 0;
    if (!m->resource || !m->ns || !m->name || !m->resource[0] || !m->name[0])
        return 0;
    size_t rl = strlen(m->resource), nl = strlen(m->ns), al = strlen(m->name);
    size_t dl = slen(m->node), ol = slen(m->owner);
    if (rl > CODEC_MAX_STR || nl > CODEC_MAX_STR || al > CODEC_MAX_STR ||
        dl > CODEC_MAX_STR || ol > CODEC_MAX_STR)
        return 0;
    size_t sz = CODEC_MUT_FIXED + rl + 1 + nl + 1 + al + 1;
    if (dl)
        sz += dl + 1;
    if (ol)
        sz += ol + 1;
    if (m->op != STORE_DELETE) {
        if (!m->json || m->json_len > UINT32_MAX - 1)
            return 0;
        sz += m->json_len + 1;
    }
    return sz;
}

void codec_write_header(void *dst, uint32_t count)
{
    uint8_t *p = dst;
    p[0] = CODEC_VERSION;
    p[1] = p[2] = p[3] = 0;
    le_put32(p + 4, count);
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    p[len] = 0;
    return p + len + 1;
}

size_t codec_write_mut(void *dst, const struct store_mut *m)
{
    uint8_t *p = dst, *q;
    uint32_t rl = (uint32_t)strlen(m->resource), nl = (uint32_t)strlen(m->ns),
             al = (uint32_t)strlen(m->name), dl = (uint32_t)slen(m->node),
             ol = (uint32_t)slen(m->owner);
    uint32_t jl = m->op == STORE_DELETE ? 0 : (uint32_t)m->json_len;

    p[0] = (uint8_t)m->op;
    p[1] = (uint8_t)((dl ? F_NODE : 0) | (ol ? F_OWNER : 0) |
                     (m->op == STORE_DELETE ? 0 : 4));
    p[2] = p[3] = 0;
    le_put32(p + 4, rl);
    le_put32(p + 8, nl);
    le_put32(p + 12, al);
    le_put32(p + 16, dl);
    le_put32(p + 20, ol);
    le_put32(p + 24, jl);
    le_put64(p + 28, m->op == STORE_CREATE ? 0 : m->expect_rev);
    q = p + CODEC_MUT_FIXED;
    q = put_str(q, m->resource, rl);
    q = put_str(q, m->ns, nl);
    q = put_str(q, m->name, al);
    if (dl)
        q = put_str(q, m->node, dl);
    if (ol)
        q = put_str(q, m->owner, ol);
    if (m->op != STORE_DELETE)
        q = put_str(q, m->json, jl);
    return (size_t)(q - p);
}

/* Takes a string of `len` bytes plus its NUL from the cursor. */
static int take_str(const uint8_t **p, size_t *left, uint32_t len, bool text,
                    const char **out)
{
    if (*left < 1 || len > *left - 1)
        return BE_PROTO;
    const uint8_t *s = *p;
    if (s[len] != 0)
        return BE_PROTO;
    if (text && memchr(s, 0, len) != NULL)
        return BE_PROTO;
    *out = (const char *)s;
    *p += (size_t)len + 1;
    *left -= (size_t)len + 1;
    return 0;
}

static int decode_one(const uint8_t **p, size_t *left, struct codec_mut *m)
{
    const uint8_t *h = *p;
    int rc;

    if (*left < CODEC_MUT_FIXED)
        return BE_PROTO;
    uint8_t op = h[0], flags = h[1];
    if (op < STORE_CREATE || op > STORE_DELETE || (flags & ~7u) || h[2] ||
        h[3])
        return BE_PROTO;
    /* json is present exactly for CREATE and UPDATE */
    if (!!(flags & 4) != (op != STORE_DELETE))
        return BE_PROTO;
    memset(m, 0, sizeof *m);
    m->op = op;
    m->resource_len = le_get32(h + 4);
    m->ns_len = le_get32(h + 8);
    m->name_len = le_get32(h + 12);
    m->node_len = le_get32(h + 16);
    m->owner_len = le_get32(h + 20);
    m->json_len = le_get32(h + 24);
    m->expect_rev = le_get64(h + 28);
    if (m->resource_len == 0 || m->name_len == 0 ||
        m->resource_len > CODEC_MAX_STR || m->ns_len > CODEC_MAX_STR ||
        m->name_len > CODEC_MAX_STR || m->node_len > CODEC_MAX_STR ||
        m->owner_len > CODEC_MAX_STR)
        return BE_PROTO;
    if ((!(flags & F_NODE) && m->node_len) ||
        (!(flags & F_OWNER) && m->owner_len) ||
        (op == STORE_DELETE && m->json_len))
        return BE_PROTO;
    *p += CODEC_MUT_FIXED;
    *left -= CODEC_MUT_FIXED;
    if ((rc = take_str(p, left, m->resource_len, true, &m->resource)) ||
        (rc = take_str(p, left, m->ns_len, true, &m->ns)) ||
        (rc = take_str(p, left, m->name_len, true, &m->name)))
        return rc;
    if ((flags & F_NODE) &&
        (rc = take_str(p, left, m->node_len, true, &m->node)))
        return rc;
    if ((flags & F_OWNER) &&
        (rc = take_str(p, left, m->owner_len, true, &m->owner)))
        return rc;
    if ((flags & 4) && (rc = take_str(p, left, m->json_len, false, &m->json)))
        return rc;
    if (m->node && m->node_len == 0)
        m->node = NULL;
    if (m->owner && m->owner_len == 0)
        m->owner = NULL;
    return 0;
}

int codec_decode(const void *buf, size_t len, struct codec_mut **muts,
                 size_t *cap, size_t *n)
{
    const uint8_t *p = buf;
    size_t left = len;

    *n = 0;
    if (!buf || len < CODEC_HDR_SIZE || p[0] != CODEC_VERSION || p[1] || p[2] ||
        p[3])
        return BE_PROTO;
    uint32_t count = le_get32(p + 4);
    p += CODEC_HDR_SIZE;
    left -= CODEC_HDR_SIZE;
    /* every record takes at least its fixed part and three strings */
    if (count == 0 || count > left / (CODEC_MUT_FIXED + 4))
        return BE_PROTO;
    if (*cap < count) {
        struct codec_mut *m = realloc(*muts, (size_t)count * sizeof *m);
        if (!m)
            return BE_NOMEM;
        *muts = m;
        *cap = count;
    }
    for (uint32_t i = 0; i < count; i++) {
        int rc = decode_one(&p, &left, &(*muts)[i]);
        if (rc)
            return rc;
    }
    /* raft's disk format wants entries in multiples of 8 bytes: up to 7
     * zero bytes of padding may follow the last record, nothing else */
    if (left >= 8)
        return BE_PROTO;
    for (size_t i = 0; i < left; i++)
        if (p[i] != 0)
            return BE_PROTO;
    *n = count;
    return 0;
}
