/* test_store_snapput.c: the store's snapshot writer. What it writes is what
 * raft_uv loads (the installed raft library reads it back: term, index,
 * configuration and every data byte); after a crash, raft_uv still numbers
 * the entries of the open segment right (the newest closed segment, which
 * anchors them, is kept, and after installing a leader's snapshot, which
 * leaves none, or for a member that joined with an empty directory,
 * raft_uv's own put closes the open segment once); it removes the snapshots and closed
 * segments raft_uv would, and nothing else; a close while it writes waits
 * for the write, and a put after close is refused; installing a leader's snapshot still goes to raft_uv. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "store/snapput.h"
#include "unit.h"

static char *make_dir(void)
{
    char tmpl[] = "/tmp/berth-snapput-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int exists(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void touch(const char *dir, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        if (write(fd, content, strlen(content)) < 0)
            perror("write");
        close(fd);
    }
}

static int put_status = -12345, put_calls, close_calls, inner_puts;

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
    (void)req;
    put_status = status;
    put_calls++;
}

static void io_closed(struct raft_io *io)
{
    (void)io;
    close_calls++;
    CHECK_INT(put_calls, 1); /* the put finished first */
}

static void test_crc(void)
{
    /* CRC-32/CKSUM's check value is this CRC of "123456789" xor ~0 */
    CHECK_INT(snapput_crc32("123456789", 9, 0) ^ 0xffffffffu, 0x765e7680u);
}

/* A snapshot of two buffers and a two-server configuration. */
struct sample {
    struct raft_snapshot snap;
    struct raft_buffer bufs[2];
    char *big;
};

static void sample_init(struct sample *s, raft_term term, raft_index index)
{
    memset(s, 0, sizeof *s);
    s->big = malloc(3u << 20);
    for (size_t i = 0; i < (3u << 20); i++)
        s->big[i] = (char)(i * 7 + 1);
    s->bufs[0] = (struct raft_buffer){(void *)"head:", 5};
    s->bufs[1] = (struct raft_buffer){s->big, 3u << 20};
    s->snap.term = term;
    s->snap.index = index;
    s->snap.configuration_index = 7;
    raft_configuration_init(&s->snap.configuration);
    raft_configuration_add(&s->snap.configuration, 1, "127.0.0.1:9001", RAFT_VOTER);
    raft_configuration_add(&s->snap.configuration, 2, "127.0.0.1:9002", RAFT_SPARE);
    s->snap.bufs = s->bufs;
    s->snap.n_bufs = 2;
}

static void sample_close(struct sample *s)
{
    raft_configuration_close(&s->snap.configuration);
    free(s->big);
}

static void run_until(uv_loop_t *loop, int *counter, int want)
{
    for (int i = 0; i < 100000 && *counter < want; i++)
        uv_run(loop, UV_RUN_ONCE);
}

/* A raft_uv I/O on dir, initialized as raft would. */
static int io_open(struct raft_io *io, uv_loop_t *loop, struct raft_uv_transport *t,
                   const char *dir)
{
    if (raft_uv_init(io, loop, dir, t) != 0)
        return -1;
    return io->init(io, 1, "127.0.0.1:9001");
}

/* Closes it as raft would, and frees it. */
static void io_shut(struct raft_io *io, uv_loop_t *loop)
{
    close_calls = 0;
    put_calls = 1; /* io_closed's check */
    io->close(io, io_closed);
    run_until(loop, &close_calls, 1);
    raft_uv_close(io);
}

/* Ends a test's loop and transport. */
static void loop_end(uv_loop_t *loop, struct raft_uv_transport *t)
{
    raft_uv_tcp_close(t);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(loop), 0);
}

/* What raft_uv's load found in a directory. */
struct loaded {
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
};

static int load_io(struct raft_io *io, struct loaded *l)
{
    memset(l, 0, sizeof *l);
    return io->load(io, &l->term, &l->vote, &l->snap, &l->start, &l->entries, &l->n);
}

static void loaded_free(struct loaded *l)
{
    if (l->snap) {
        raft_configuration_close(&l->snap->configuration);
        raft_free(l->snap->bufs[0].base);
        raft_free(l->snap->bufs);
        raft_free(l->snap);
    }
    void *batch = NULL;
    for (size_t k = 0; k < l->n; k++)
        if (l->entries[k].batch != batch)
            raft_free(batch = l->entries[k].batch);
    raft_free(l->entries);
}

static int appends_done;

static void append_cb(struct raft_io_append *req, int status)
{
    (void)req;
    CHECK_INT(status, 0);
    appends_done++;
}

static uint64_t payload[201];
static struct raft_entry entries_out[201];
static struct raft_io_append append_reqs[8];

/* Appends entries first..last (term 1, payload = index) and waits. */
static int append_range(struct raft_io *io, uv_loop_t *loop, unsigned first, unsigned last)
{
    int batches = 0;
    appends_done = 0;
    for (unsigned i = first; i <= last; i += 50, batches++) {
        unsigned count = last - i + 1 < 50 ? last - i + 1 : 50;
        for (unsigned k = i; k < i + count; k++) {
            payload[k] = k;
            entries_out[k] = (struct raft_entry){.term = 1, .type = RAFT_COMMAND,
                                                 .buf = {&payload[k], sizeof payload[k]}};
        }
        if (io->append(io, &append_reqs[batches], &entries_out[i], count, append_cb))
            return -1;
    }
    run_until(loop, &appends_done, batches);
    return appends_done == batches ? 0 : -1;
}

/* Puts a snapshot at index through sp and waits; 0 on success. */
static int put_snapshot(struct snapput *sp, uv_loop_t *loop, struct raft_configuration *conf,
                        raft_index index, unsigned trailing)
{
    static struct raft_snapshot s;
    static struct raft_buffer data = {(void *)"state", 5};
    static struct raft_io_snapshot_put req;
    s = (struct raft_snapshot){.term = 1, .index = index, .configuration = *conf,
                               .configuration_index = 1, .bufs = &data, .n_bufs = 1};
    put_calls = 0;
    if (snapput_put(sp, trailing, &req, &s, put_cb))
        return -1;
    run_until(loop, &put_calls, 1);
    return put_calls == 1 && put_status == 0 ? 0 : -1;
}

/* The child: a member that bootstraps (closed segment 1-1) and appends
 * 2..200 to an open segment; or does so up to 50, installs a leader's
 * snapshot at 100 and appends 101..200; or joins with an empty directory
 * and appends 1..200. Then it snapshots at 180 keeping 10, and is killed. */
enum scenario { BOOTSTRAPPED, INSTALLED, JOINED };

static void crash_after_snapshot(const char *dir, enum scenario sc)
{
    uv_loop_t loop;
    struct raft_uv_transport t;
    struct raft_io io;
    struct raft_configuration conf;
    struct snapput sp;
    struct loaded l;

    uv_loop_init(&loop);
    raft_configuration_init(&conf);
    raft_configuration_add(&conf, 1, "127.0.0.1:9001", RAFT_VOTER);
    if (raft_uv_tcp_init(&t, &loop) || io_open(&io, &loop, &t, dir) ||
        snapput_init(&sp, &io, &loop, dir) ||
        (sc != JOINED && io.bootstrap(&io, &conf)) ||
        load_io(&io, &l))
        _exit(2);
    if (sc == JOINED && append_range(&io, &loop, 1, 200))
        _exit(3);
    if (sc == BOOTSTRAPPED && append_range(&io, &loop, 2, 200))
        _exit(3);
    if (sc == INSTALLED && (append_range(&io, &loop, 2, 50) ||
                           put_snapshot(&sp, &loop, &conf, 100, 0) ||
                           append_range(&io, &loop, 101, 200)))
        _exit(4);
    if (put_snapshot(&sp, &loop, &conf, 180, 10))
        _exit(5);
    _exit(0); /* no close: as if killed */
}

/* Kills a writer after a snapshot; raft_uv must find every entry where it
 * was written. */
static void check_numbering_after_crash(enum scenario sc)
{
    char *dir = make_dir();
    pid_t pid = fork();
    if (pid == 0)
        crash_after_snapshot(dir, sc);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    uv_loop_t loop;
    struct raft_uv_transport t;
    struct raft_io io;
    struct loaded l;
    uv_loop_init(&loop);
    CHECK_INT(raft_uv_tcp_init(&t, &loop), 0);
    CHECK_INT(io_open(&io, &loop, &t, dir), 0);
    CHECK_INT(load_io(&io, &l), 0);
    CHECK(l.snap && l.snap->index == 180);
    CHECK_INT(l.start + l.n - 1, 200); /* the last entry is still 200 ... */
    int misplaced = 0;
    for (size_t k = 0; k < l.n; k++)
        if (l.entries[k].type == RAFT_COMMAND &&
            *(uint64_t *)l.entries[k].buf.base != l.start + k)
            misplaced++;
    CHECK_INT(misplaced, 0); /* ... and every entry is where it was */
    CHECK(l.start <= 171);   /* the 10 trailing entries are there */
    loaded_free(&l);
    io_shut(&io, &loop);
    loop_end(&loop, &t);
    remove_dir(dir);
    free(dir);
}

static void test_numbering_after_crash(void)
{
    check_numbering_after_crash(BOOTSTRAPPED);
}

static void test_numbering_after_install_and_crash(void)
{
    check_numbering_after_crash(INSTALLED);
}

static void test_numbering_after_join_and_crash(void)
{
    check_numbering_after_crash(JOINED);
}

static void test_raft_uv_loads_it(void)
{
    char *dir = make_dir();
    uv_loop_t loop;
    struct raft_uv_transport t;
    struct raft_io io;
    struct snapput sp;
    struct sample s;
    struct raft_io_snapshot_put req;

    uv_loop_init(&loop);
    CHECK_INT(raft_uv_tcp_init(&t, &loop), 0);
    CHECK_INT(io_open(&io, &loop, &t, dir), 0);
    sample_init(&s, 3, 100);
    CHECK_INT(io.bootstrap(&io, &s.snap.configuration), 0); /* closed segment 1-1 */
    CHECK_INT(snapput_init(&sp, &io, &loop, dir), 0);
    CHECK(sp.anchored); /* so the writer, not raft_uv, writes it */
    put_calls = close_calls = 0;
    CHECK_INT(snapput_put(&sp, 10, &req, &s.snap, put_cb), 0);
    snapput_close(&sp, io_closed); /* waits for the write */
    run_until(&loop, &close_calls, 1);
    CHECK_INT(put_status, 0);
    CHECK_INT(close_calls, 1);
    raft_uv_close(&io);
    snapput_free(&sp);

    /* a fresh raft_uv on the same directory */
    struct loaded l;
    CHECK_INT(io_open(&io, &loop, &t, dir), 0);
    CHECK_INT(load_io(&io, &l), 0);
    struct raft_snapshot *got = l.snap;
    CHECK(got != NULL);
    if (got) {
        CHECK_INT(got->term, 3);
        CHECK_INT(got->index, 100);
        CHECK_INT(got->configuration_index, 7);
        CHECK_INT(got->configuration.n, 2);
        if (got->configuration.n == 2) {
            CHECK_INT(got->configuration.servers[1].id, 2);
            CHECK_STR(got->configuration.servers[1].address, "127.0.0.1:9002");
            CHECK_INT(got->configuration.servers[1].role, RAFT_SPARE);
        }
        CHECK_INT(got->n_bufs, 1);
        CHECK_INT(got->bufs[0].len, 5 + (3u << 20));
        CHECK(memcmp(got->bufs[0].base, "head:", 5) == 0);
        CHECK(memcmp((char *)got->bufs[0].base + 5, s.big, 3u << 20) == 0);
    }
    CHECK_INT(l.n, 0);
    loaded_free(&l);
    io_shut(&io, &loop);
    loop_end(&loop, &t);
    sample_close(&s);
    remove_dir(dir);
    free(dir);
}

/* A stand-in for raft_uv: counts what snapput hands on. */
static int fake_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                    const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    (void)io, (void)trailing, (void)req, (void)snapshot, (void)cb;
    inner_puts++;
    return 0;
}

static void fake_close(struct raft_io *io, raft_io_close_cb cb)
{
    cb(io);
}

static void test_removes_what_raft_uv_would(void)
{
    char *dir = make_dir();
    uv_loop_t loop;
    struct raft_io io = {.snapshot_put = fake_put, .close = fake_close};
    struct snapput sp;
    struct sample s;
    struct raft_io_snapshot_put req;

    touch(dir, "0000000000000001-0000000000000050", "x");
    touch(dir, "0000000000000051-0000000000000090", "x");
    touch(dir, "0000000000000091-0000000000000120", "x");
    touch(dir, "open-1", "x");
    touch(dir, "open-2", "x");
    touch(dir, "snapshot-1-10-5.meta", "m");
    touch(dir, "snapshot-1-10-5", "d");
    touch(dir, "snapshot-1-40-6.meta", "m");
    touch(dir, "snapshot-1-40-6", "d");
    touch(dir, "snapshot-2-60-7.meta", "m"); /* no data: raft_uv ignores it */
    touch(dir, "metadata1", "x");
    touch(dir, "berth-snapshot.tmp", "left by a crash");

    uv_loop_init(&loop);
    CHECK_INT(snapput_init(&sp, &io, &loop, dir), 0);
    CHECK(!exists(dir, "berth-snapshot.tmp"));
    sample_init(&s, 2, 100);

    inner_puts = 0;
    CHECK_INT(snapput_put(&sp, 0, &req, &s.snap, put_cb), 0); /* install */
    CHECK_INT(inner_puts, 1);
    /* the next one too: raft_uv's barrier must close the open segment */
    CHECK_INT(snapput_put(&sp, 20, &req, &s.snap, put_cb), 0);
    CHECK_INT(inner_puts, 2);

    put_calls = 0;
    CHECK_INT(snapput_put(&sp, 20, &req, &s.snap, put_cb), 0);
    CHECK_INT(snapput_put(&sp, 20, &req, &s.snap, put_cb), RAFT_BUSY);
    run_until(&loop, &put_calls, 1);
    CHECK_INT(put_status, 0);
    /* entries 81..100 are kept: the segment ending at 50 goes */
    CHECK(!exists(dir, "0000000000000001-0000000000000050"));
    CHECK(exists(dir, "0000000000000051-0000000000000090"));
    CHECK(exists(dir, "0000000000000091-0000000000000120"));
    CHECK(exists(dir, "open-1") && exists(dir, "open-2"));
    /* the two newest complete snapshots stay */
    CHECK(!exists(dir, "snapshot-1-10-5.meta") && !exists(dir, "snapshot-1-10-5"));
    CHECK(exists(dir, "snapshot-1-40-6.meta") && exists(dir, "snapshot-1-40-6"));
    CHECK(exists(dir, "snapshot-2-60-7.meta"));
    CHECK(exists(dir, "metadata1"));
    CHECK(!exists(dir, "berth-snapshot.tmp"));
    int found = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        found += strncmp(e->d_name, "snapshot-2-100-", 15) == 0;
    if (d)
        closedir(d);
    CHECK_INT(found, 2); /* its .meta and its data */

    /* more trailing entries than the index: no segment goes */
    put_calls = 0;
    s.snap.index = 110;
    CHECK_INT(snapput_put(&sp, 1000, &req, &s.snap, put_cb), 0);
    run_until(&loop, &put_calls, 1);
    CHECK_INT(put_status, 0);
    CHECK(exists(dir, "0000000000000051-0000000000000090"));
    CHECK(!exists(dir, "snapshot-1-40-6"));

    /* every closed segment is behind the trailing entries: all go but the
     * newest, which numbers the open segments */
    put_calls = 0;
    s.snap.index = 300;
    CHECK_INT(snapput_put(&sp, 20, &req, &s.snap, put_cb), 0);
    run_until(&loop, &put_calls, 1);
    CHECK(!exists(dir, "0000000000000051-0000000000000090"));
    CHECK(exists(dir, "0000000000000091-0000000000000120"));

    close_calls = 0;
    snapput_close(&sp, io_closed);
    CHECK_INT(close_calls, 1); /* nothing in flight: at once */
    /* raft may finish an asynchronous snapshot after close: refused */
    CHECK_INT(snapput_put(&sp, 20, &req, &s.snap, put_cb), RAFT_CANCELED);
    snapput_free(&sp);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
    sample_close(&s);
    remove_dir(dir);
    free(dir);
}

/* A directory that is gone: the put fails with an I/O error, no crash. */
static void test_write_error(void)
{
    uv_loop_t loop;
    struct raft_io io = {.snapshot_put = fake_put, .close = fake_close};
    struct snapput sp;
    struct sample s;
    struct raft_io_snapshot_put req;
    char *dir = make_dir();
    touch(dir, "0000000000000001-0000000000000001", "x"); /* anchored */
    uv_loop_init(&loop);
    CHECK_INT(snapput_init(&sp, &io, &loop, dir), 0);
    remove_dir(dir); /* gone before the write */
    free(dir);
    sample_init(&s, 1, 5);
    put_calls = 0;
    CHECK_INT(snapput_put(&sp, 2, &req, &s.snap, put_cb), 0);
    run_until(&loop, &put_calls, 1);
    CHECK_INT(put_status, RAFT_IOERR);
    snapput_free(&sp);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
    sample_close(&s);
}

int main(void)
{
    RUN(test_crc);
    /* first: it forks, and libuv's thread pool is best unstarted then */
    RUN(test_numbering_after_crash);
    RUN(test_numbering_after_install_and_crash);
    RUN(test_numbering_after_join_and_crash);
    RUN(test_raft_uv_loads_it);
    RUN(test_removes_what_raft_uv_would);
    RUN(test_write_error);
    UNIT_EXIT();
}
