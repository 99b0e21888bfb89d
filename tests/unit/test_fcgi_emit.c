/* proto/fcgi_emit.c: FastCGI records the application sends. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/fcgi.h"

static void test_header(void)
{
	uint8_t h[8];

	fw_fcgi_header(h, FCGI_STDOUT, 0x1234, 0xABCD, 7);
	CHECK_EQ_MEM(h, 8, "\x01\x06\x12\x34\xab\xcd\x07\x00", 8);
	memset(h, 0xff, sizeof(h));
	fw_fcgi_header(h, FCGI_END_REQUEST, 0, 0, 0);
	CHECK_EQ_MEM(h, 8, "\x01\x03\x00\x00\x00\x00\x00\x00", 8);
}

/* Check the records of a stream in out[off..], return the offset after them. */
static size_t check_stream(const struct fw_buf *out, size_t off, uint8_t type, uint16_t id,
			   const uint8_t *data, const size_t *clens, size_t nrec, int line)
{
	const uint8_t *o = (const uint8_t *)out->data;
	size_t done = 0;

	for (size_t i = 0; i < nrec; i++) {
		uint8_t want[8];

		fw_fcgi_header(want, type, id, (uint16_t)clens[i], 0);
		if (!check_true(__FILE__, line, off + 8 + clens[i] <= out->len,
				"record inside output") ||
		    !check_eq_mem(__FILE__, line, o + off, 8, want, 8, "header", "expected header") ||
		    !check_eq_mem(__FILE__, line, o + off + 8, clens[i], data + done, clens[i],
				  "content", "input"))
			return out->len;
		off += 8 + clens[i];
		done += clens[i];
	}
	return off;
}

static void test_stream_split(void)
{
	size_t len = 200000;
	uint8_t *data = malloc(len);
	struct fw_buf out = FW_BUF_INIT;
	static const size_t clens[] = {65535, 65535, 65535, 3395};

	if (!CHECK(data != NULL))
		return;
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	fw_buf_puts(&out, "prefix");
	CHECK_EQ_INT(fw_fcgi_put_stream(&out, FCGI_STDOUT, 0x1234, data, len), 0);
	CHECK_EQ_UINT(out.len, 6 + len + 4 * 8);
	CHECK_EQ_MEM(out.data, 6, "prefix", 6);
	/* Headers exactly: 65535 is 0xffff; 3395 is 0x0d43. */
	CHECK_EQ_MEM(out.data + 6, 8, "\x01\x06\x12\x34\xff\xff\x00\x00", 8);
	CHECK_EQ_MEM(out.data + 6 + 3 * (8 + 65535), 8, "\x01\x06\x12\x34\x0d\x43\x00\x00", 8);
	CHECK_EQ_UINT(check_stream(&out, 6, FCGI_STDOUT, 0x1234, data, clens, 4, __LINE__), out.len);
	CHECK_EQ_UINT(fw_fcgi_stream_size(len), len + 4 * 8);
	fw_buf_release(&out);

	/* The edges: exactly one full record, one byte more. */
	{
		static const size_t one[] = {65535}, two[] = {65535, 1}, small[] = {1};

		CHECK_EQ_INT(fw_fcgi_put_stream(&out, FCGI_STDERR, 1, data, 65535), 0);
		CHECK_EQ_UINT(out.len, 65535 + 8);
		CHECK_EQ_UINT(check_stream(&out, 0, FCGI_STDERR, 1, data, one, 1, __LINE__), out.len);
		fw_buf_reset(&out, 0);
		CHECK_EQ_INT(fw_fcgi_put_stream(&out, FCGI_STDOUT, 2, data, 65536), 0);
		CHECK_EQ_UINT(out.len, 65536 + 16);
		CHECK_EQ_UINT(check_stream(&out, 0, FCGI_STDOUT, 2, data, two, 2, __LINE__), out.len);
		fw_buf_reset(&out, 0);
		CHECK_EQ_INT(fw_fcgi_put_stream(&out, FCGI_STDOUT, 3, "z", 1), 0);
		CHECK_EQ_UINT(
			check_stream(&out, 0, FCGI_STDOUT, 3, (const uint8_t *)"z", small, 1, __LINE__),
			9);
		CHECK_EQ_UINT(out.len, 9);
	}
	CHECK_EQ_UINT(fw_fcgi_stream_size(0), 8);
	CHECK_EQ_UINT(fw_fcgi_stream_size(1), 9);
	CHECK_EQ_UINT(fw_fcgi_stream_size(65535), 65543);
	CHECK_EQ_UINT(fw_fcgi_stream_size(65536), 65552);
	CHECK_EQ_UINT(fw_fcgi_stream_size(3 * 65535), 3 * 65535 + 24);
	fw_buf_release(&out);
	free(data);
}

static void test_stream_empty(void)
{
	struct fw_buf out = FW_BUF_INIT;

	/* len 0: the one empty record that ends the stream (also on a fresh buffer). */
	CHECK_EQ_INT(fw_fcgi_put_stream(&out, FCGI_STDOUT, 0x0102, NULL, 0), 0);
	CHECK_EQ_MEM(out.data, out.len, "\x01\x06\x01\x02\x00\x00\x00\x00", 8);
	CHECK_EQ_INT(fw_fcgi_put_stream(&out, FCGI_STDERR, 0x0102, "", 0), 0);
	CHECK_EQ_MEM(out.data, out.len,
		     "\x01\x06\x01\x02\x00\x00\x00\x00"
		     "\x01\x07\x01\x02\x00\x00\x00\x00",
		     16);
	fw_buf_release(&out);
}

static void test_end_request(void)
{
	struct fw_buf out = FW_BUF_INIT;

	CHECK_EQ_INT(fw_fcgi_put_end(&out, 7, 0x01020304, FCGI_REQUEST_COMPLETE), 0);
	CHECK_EQ_MEM(out.data, out.len,
		     "\x01\x03\x00\x07\x00\x08\x00\x00"
		     "\x01\x02\x03\x04\x00\x00\x00\x00",
		     16);
	fw_buf_reset(&out, 0);
	CHECK_EQ_INT(fw_fcgi_put_end(&out, 0xfffe, 0xffffffffu, FCGI_OVERLOADED), 0);
	CHECK_EQ_MEM(out.data, out.len,
		     "\x01\x03\xff\xfe\x00\x08\x00\x00"
		     "\xff\xff\xff\xff\x02\x00\x00\x00",
		     16);
	fw_buf_reset(&out, 0);
	CHECK_EQ_INT(fw_fcgi_put_end(&out, 1, 0, FCGI_CANT_MPX_CONN), 0);
	CHECK_EQ_MEM(out.data + 8, 8, "\x00\x00\x00\x00\x01\x00\x00\x00", 8);
	fw_buf_release(&out);
}

static void test_unknown_type(void)
{
	struct fw_buf out = FW_BUF_INIT;

	CHECK_EQ_INT(fw_fcgi_put_unknown_type(&out, 200), 0);
	CHECK_EQ_MEM(out.data, out.len,
		     "\x01\x0b\x00\x00\x00\x08\x00\x00"
		     "\xc8\x00\x00\x00\x00\x00\x00\x00",
		     16);
	fw_buf_release(&out);
}

int main(void)
{
	test_header();
	test_stream_split();
	test_stream_empty();
	test_end_request();
	test_unknown_type();
	return check_done();
}
