/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "composefs-c/composefs.h"

/* Of a message too long for the buffer, the first bytes kept (the rest of
 * the room goes to its end, where "path: reason" has the reason). */
#define ERROR_HEAD 256
#define ELLIPSIS "..."

/* Back from p to the start of a UTF-8 character, not before start. */
static const char *char_start(const char *start, const char *p)
{
	while (p > start && ((unsigned char)*p & 0xc0) == 0x80)
		p--;
	return p;
}

/*
 * A message longer than the buffer (a path thousands of levels deep) keeps
 * its start and its end with "..." in the middle: the end holds the reason,
 * which plain truncation would cut off. Without the memory to format it
 * whole, it is truncated.
 */
static void shorten_into(char *dst, size_t cap, const char *msg, size_t len)
{
	size_t room = cap - 1 - strlen(ELLIPSIS);
	const char *head_end = char_start(msg, msg + ERROR_HEAD);
	const char *tail = msg + len - (room - ERROR_HEAD);
	size_t head;

	/* start the tail at a whole character */
	while (((unsigned char)*tail & 0xc0) == 0x80)
		tail++;
	head = (size_t)(head_end - msg);
	memcpy(dst, msg, head);
	memcpy(dst + head, ELLIPSIS, strlen(ELLIPSIS));
	memcpy(dst + head + strlen(ELLIPSIS), tail, (size_t)(msg + len - tail));
	dst[head + strlen(ELLIPSIS) + (size_t)(msg + len - tail)] = '\0';
}

int cfs_error_set(struct cfs_error *err, int errnum, const char *fmt, ...)
{
	va_list ap, again;
	char *whole;
	int n;

	if (err == NULL)
		return errnum;
	va_start(ap, fmt);
	va_copy(again, ap);
	n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(err->message) && (whole = malloc((size_t)n + 1))) {
		vsnprintf(whole, (size_t)n + 1, fmt, again);
		shorten_into(err->message, sizeof(err->message), whole,
			     (size_t)n);
		free(whole);
	}
	va_end(again);
	return errnum;
}

const char *cfs_version(void)
{
	return CFS_VERSION;
}
