/* sqlmem.h: sqlite's allocator for the store (see sqlmem.c). Internal. */
#ifndef BERTH_STORE_SQLMEM_H
#define BERTH_STORE_SQLMEM_H

/* Installs it; must run before sqlite is first used in the process, and
 * only the first call acts. -1 when sqlite was already initialized (it then
 * keeps its default allocator, which works, only with slower snapshot
 * forks). */
int sqlmem_install(void);

#endif
