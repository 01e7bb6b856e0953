/* SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0 */
#include <pthread.h>
#include <stdlib.h>

#include "read-buffer.h"

struct read_buf {
	char *data;
	size_t size;
};

static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;
static int read_buf_key_err;

static void read_buf_free(void *p)
{
	struct read_buf *b = p;

	free(b->data);
	free(b);
}

static void read_buf_key_init(void)
{
	read_buf_key_err = pthread_key_create(&read_buf_key, read_buf_free);
}

char *read_buffer(size_t size)
{
	struct read_buf *b;

	if (pthread_once(&read_buf_once, read_buf_key_init) != 0 ||
	    read_buf_key_err != 0)
		return NULL;
	b = pthread_getspecific(read_buf_key);
	if (b == NULL) {
		b = calloc(1, sizeof(*b));
		if (b == NULL || pthread_setspecific(read_buf_key, b) != 0) {
			free(b);
			return NULL;
		}
	}
	if (size == 0)
		size = 1;
	if (size > b->size) {
		char *d = realloc(b->data, size);

		if (d == NULL)
			return NULL;
		b->data = d;
		b->size = size;
	}
	return b->data;
}
