/* snapjob.h: an encoded copy (snapimg.h) of a memory image taken at one
 * instant while the process goes on changing it (see snapjob.c). Internal
 * to store/. */
#ifndef BERTH_STORE_SNAPJOB_H
#define BERTH_STORE_SNAPJOB_H

#include <stddef.h>
#include <uv.h>

struct snapjob;

/* On the loop: starts encoding [img, img+len) as it is now. Costs a fork
 * (page tables, not pages); the caller may change img right away.
 * BE_TOOBIG past SNAPIMG_MAX_RAW. */
int snapjob_start(const void *img, size_t len, struct snapjob **out);

/* On any thread: blocks until the copy is complete. 0 or a negative BE_*
 * code when the copier failed; later calls return the same at once. */
int snapjob_wait(struct snapjob *j);

/* The encoded image: valid from a successful snapjob_wait until
 * snapjob_free. */
void *snapjob_data(struct snapjob *j);
size_t snapjob_len(struct snapjob *j);

/* On the loop: releases the copy; stops and reaps the copier if
 * snapjob_wait was never called. NULL is a no-op. */
void snapjob_free(struct snapjob *j);

/* The same, with the unmapping on loop's thread pool (a waited-for copy;
 * otherwise it is snapjob_free). The loop runs until it is done. */
void snapjob_free_async(struct snapjob *j, uv_loop_t *loop);

#endif
