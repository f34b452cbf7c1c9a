/* segfill.h: raft's open log segments preallocated as written extents, so
 * that its appends complete without a thread (see segfill.c). Internal to
 * the store. */
#ifndef BERTH_STORE_SEGFILL_H
#define BERTH_STORE_SEGFILL_H

/* From now on the open segments raft_uv preallocates in dir are filled with
 * zeros. Returns a slot (>= 0) for segfill_unregister, or a BE_* code: the
 * directory cannot be resolved, or too many are registered (raft then
 * preallocates as it always did, which works, only slower). */
int segfill_register(const char *dir);

/* Forgets a directory registered in slot (a negative slot is ignored). */
void segfill_unregister(int slot);

/* True when fd is an open segment (a file named open-N) in a registered
 * directory. For tests. */
int segfill_applies(int fd);

#endif
