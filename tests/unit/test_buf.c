/* core/buf.c: the growable byte buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/buf.h"

/* data[len] is NUL whenever memory is held. */
static bool nul_ok(const struct fw_buf *b)
{
	return b->cap == 0 ? b->data == NULL : b->data != NULL && b->data[b->len] == '\0';
}

static void test_init(void)
{
	struct fw_buf b = FW_BUF_INIT;

	CHECK(b.data == NULL);
	CHECK_EQ_UINT(b.len, 0);
	CHECK_EQ_UINT(b.cap, 0);
	fw_buf_release(&b); /* finish of an empty buffer is fine */
	CHECK(b.data == NULL);
}

static void test_append(void)
{
	struct fw_buf b = FW_BUF_INIT;

	CHECK_EQ_INT(fw_buf_append(&b, "hello", 5), 0);
	CHECK_EQ_MEM(b.data, b.len, "hello", 5);
	CHECK(b.cap >= 5);
	CHECK(nul_ok(&b));
	CHECK_EQ_INT(fw_buf_puts(&b, ", world"), 0);
	CHECK_EQ_INT(fw_buf_putc(&b, '!'), 0);
	CHECK_EQ_STR(b.data, "hello, world!");
	CHECK_EQ_UINT(b.len, 13);
	/* Binary data with NULs is kept as it is. */
	CHECK_EQ_INT(fw_buf_append(&b, "\0a\0", 3), 0);
	CHECK_EQ_MEM(b.data, b.len, "hello, world!\0a\0", 16);
	CHECK(nul_ok(&b));
	/* Appending nothing to a buffer that holds memory changes nothing. */
	CHECK_EQ_INT(fw_buf_append(&b, "", 0), 0);
	CHECK_EQ_UINT(b.len, 16);
	fw_buf_release(&b);
	CHECK(b.data == NULL);
	CHECK_EQ_UINT(b.len, 0);
	CHECK_EQ_UINT(b.cap, 0);
}

static void test_growth(void)
{
	struct fw_buf b = FW_BUF_INIT;
	char expect[10000];
	size_t n = 0;
	bool ok = true;

	while (n + 7 <= sizeof(expect)) {
		char chunk[7];

		for (int i = 0; i < 7; i++)
			chunk[i] = (char)('a' + (n + (size_t)i) % 26);
		memcpy(expect + n, chunk, 7);
		ok &= fw_buf_append(&b, chunk, 7) == 0;
		ok &= nul_ok(&b) && b.len == n + 7 && b.cap >= b.len;
		n += 7;
	}
	CHECK(ok);
	CHECK_EQ_MEM(b.data, b.len, expect, n);
	fw_buf_release(&b);
}

static void test_printf(void)
{
	struct fw_buf b = FW_BUF_INIT;
	char big[1000];
	size_t room;

	/* First write into a buffer without memory. */
	CHECK_EQ_INT(fw_buf_printf(&b, "x%d-%s", 42, "y"), 0);
	CHECK_EQ_STR(b.data, "x42-y");
	CHECK_EQ_UINT(b.len, 5);

	/* Longer than the room there is: the second pass must write it all. */
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ_INT(fw_buf_printf(&b, "[%s]", big), 0);
	CHECK_EQ_UINT(b.len, 5 + 2 + 999);
	CHECK(b.data[5] == '[' && b.data[6] == 'z' && b.data[1004] == 'z' && b.data[1005] == ']');
	CHECK(nul_ok(&b));

	/* Exactly the room left, then one byte more. */
	room = b.cap - b.len;
	{
		char *fill = malloc(room + 1);

		if (!CHECK(fill != NULL))
			return;
		memset(fill, 'f', room);
		fill[room] = '\0';
		CHECK_EQ_INT(fw_buf_printf(&b, "%s", fill), 0);
		CHECK_EQ_UINT(b.len, b.cap);
		CHECK(b.data[b.len - 1] == 'f');
		CHECK(nul_ok(&b));
		free(fill);
	}
	CHECK_EQ_INT(fw_buf_printf(&b, "%c", 'E'), 0);
	CHECK(b.data[b.len - 1] == 'E' && b.data[b.len - 2] == 'f');
	CHECK(nul_ok(&b));

	/* An empty format appended to a buffer with memory. */
	size_t len = b.len;
	CHECK_EQ_INT(fw_buf_printf(&b, "%s", ""), 0);
	CHECK_EQ_UINT(b.len, len);
	fw_buf_release(&b);
}

static void test_reserve_commit(void)
{
	struct fw_buf b = FW_BUF_INIT;
	char *old;

	CHECK_EQ_INT(fw_buf_reserve(&b, 100), 0);
	CHECK(b.cap >= 100);
	CHECK_EQ_UINT(b.len, 0);
	CHECK(nul_ok(&b));
	memcpy(b.data, "abc", 3);
	fw_buf_commit(&b, 3);
	CHECK_EQ_STR(b.data, "abc");

	/* Reserving what is already there keeps the memory. */
	old = b.data;
	CHECK_EQ_INT(fw_buf_reserve(&b, b.cap - b.len), 0);
	CHECK(b.data == old);

	/* Requests that would overflow size_t fail and leave the buffer alone. */
	CHECK_EQ_INT(fw_buf_reserve(&b, SIZE_MAX), -1);
	CHECK_EQ_INT(fw_buf_reserve(&b, SIZE_MAX - 3), -1);
	CHECK_EQ_INT(fw_buf_reserve(&b, SIZE_MAX - 2), -1);
	CHECK_EQ_INT(fw_buf_append(&b, "x", SIZE_MAX), -1);
	CHECK_EQ_STR(b.data, "abc");
	CHECK_EQ_UINT(b.len, 3);
	fw_buf_release(&b);
}

static void test_consume(void)
{
	struct fw_buf b = FW_BUF_INIT;

	fw_buf_puts(&b, "0123456789");
	fw_buf_consume(&b, 0);
	CHECK_EQ_STR(b.data, "0123456789");
	fw_buf_consume(&b, 3);
	CHECK_EQ_STR(b.data, "3456789");
	CHECK_EQ_UINT(b.len, 7);
	fw_buf_consume(&b, 7);
	CHECK_EQ_UINT(b.len, 0);
	CHECK_EQ_STR(b.data, "");
	fw_buf_puts(&b, "ab");
	fw_buf_consume(&b, 100);
	CHECK_EQ_UINT(b.len, 0);
	CHECK_EQ_STR(b.data, "");

	/* Consuming from a buffer without memory is harmless. */
	struct fw_buf e = FW_BUF_INIT;
	fw_buf_consume(&e, 5);
	CHECK_EQ_UINT(e.len, 0);
	CHECK(e.data == NULL);
	fw_buf_release(&b);
}

static void test_reset(void)
{
	struct fw_buf b = FW_BUF_INIT;
	char *old;
	size_t cap;

	fw_buf_puts(&b, "some text");
	old = b.data;
	cap = b.cap;
	fw_buf_reset(&b, cap); /* cap <= keep: memory kept */
	CHECK(b.data == old);
	CHECK_EQ_UINT(b.cap, cap);
	CHECK_EQ_UINT(b.len, 0);
	CHECK_EQ_STR(b.data, "");

	fw_buf_puts(&b, "again");
	CHECK_EQ_STR(b.data, "again");
	fw_buf_reset(&b, cap - 1); /* cap > keep: memory freed */
	CHECK(b.data == NULL);
	CHECK_EQ_UINT(b.cap, 0);
	CHECK_EQ_UINT(b.len, 0);

	/* Reset of a buffer without memory. */
	fw_buf_reset(&b, 0);
	CHECK(b.data == NULL);
	CHECK_EQ_UINT(b.len, 0);
	fw_buf_release(&b);
}

/*
 * An empty append or an empty printf is the first thing written to a
 * buffer that holds no memory yet (fw_write(req, "", 0) in a handler).
 * Run in a child: they may crash.
 */
static void empty_append_to_fresh_buffer(void)
{
	struct fw_buf b = FW_BUF_INIT;

	CHECK_EQ_INT(fw_buf_append(&b, "", 0), 0);
	CHECK_EQ_UINT(b.len, 0);
	CHECK(b.data == NULL || b.data[0] == '\0');
	fw_buf_release(&b);
}

static void empty_printf_to_fresh_buffer(void)
{
	struct fw_buf b = FW_BUF_INIT;

	CHECK_EQ_INT(fw_buf_printf(&b, "%s", ""), 0);
	CHECK_EQ_UINT(b.len, 0);
	CHECK(b.data == NULL || b.data[0] == '\0');
	fw_buf_release(&b);
}

int main(void)
{
	test_init();
	test_append();
	test_growth();
	test_printf();
	test_reserve_commit();
	test_consume();
	test_reset();
	CHECK_IN_CHILD(empty_append_to_fresh_buffer);
	CHECK_IN_CHILD(empty_printf_to_fresh_buffer);
	return check_done();
}
