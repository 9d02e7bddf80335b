/*
 * boss_internal.h — private to the library: what the BossDB transport (boss.c) and the
 * protocol (boss_proto.c) share.
 */
#ifndef MTP_BOSS_INTERNAL_H
#define MTP_BOSS_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "mtp/boss.h"

/* Copy src (NULL = "") into dst[n], cut to fit. */
static inline void mtp_boss_copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src != NULL ? src : "");
}

/* A server's text made safe for one line: control characters become spaces, at most 300
 * characters, cut to fit dst[n]. It does not mask tokens (boss.c does, on the whole line). */
void mtp_boss_clean_text(char *dst, size_t n, const char *src);

#endif
