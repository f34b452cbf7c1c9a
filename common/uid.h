/* uid.h: Kubernetes-style object uids (random RFC 4122 version 4 UUIDs).
 *
 * uid_random_bytes() hands out bytes from a pool refilled by getrandom()
 * 4 KiB at a time (one syscall per 256 uids, not one per object: the kernel
 * RNG was 10% of the create path when called per uid). uid_format() turns 16
 * bytes into the text form, so components with an injectable randomness
 * source (controllers in tests) share the formatting. */
#ifndef BERTH_UID_H
#define BERTH_UID_H

#include <stddef.h>

#define UID_LEN 37 /* 36 characters and the NUL */

void uid_random_bytes(unsigned char *out, size_t n);
/* Sets the version and variant bits of r and writes its text form. */
void uid_format(unsigned char r[16], char out[UID_LEN]);
/* uid_format of 16 pool bytes. */
void uid_new(char out[UID_LEN]);

#endif
