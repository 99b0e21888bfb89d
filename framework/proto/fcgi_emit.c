#include "proto/fcgi.h"

#include "core/result.h"

void fw_fcgi_header(uint8_t h[FCGI_HEADER_LEN], uint8_t type, uint16_t id, uint16_t content_len,
		    uint8_t padding_len)
{
	h[0] = FCGI_VERSION_1;
	h[1] = type;
	h[2] = (uint8_t)(id >> 8);
	h[3] = (uint8_t)id;
	h[4] = (uint8_t)(content_len >> 8);
	h[5] = (uint8_t)content_len;
	h[6] = padding_len;
	h[7] = 0;
}

size_t fw_fcgi_stream_size(size_t len)
{
	size_t records = len == 0 ? 1 : (len + FCGI_MAX_LENGTH - 1) / FCGI_MAX_LENGTH;

	return len + records * FCGI_HEADER_LEN;
}

int fw_fcgi_put_stream(struct fw_buf *out, uint8_t type, uint16_t id, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t off = 0;

	/* One reserve, then plain copies: no reallocation inside the loop. */
	if (fw_buf_reserve(out, fw_fcgi_stream_size(len)) != 0)
		return -1;
	do {
		uint16_t n = (uint16_t)FW_MIN(len - off, (size_t)FCGI_MAX_LENGTH);
		uint8_t h[FCGI_HEADER_LEN];

		fw_fcgi_header(h, type, id, n, 0);
		fw_buf_append(out, h, sizeof(h));
		if (n > 0)
			fw_buf_append(out, p + off, n);
		off += n;
	} while (off < len);
	return 0;
}

void fw_fcgi_end_record(uint8_t r[FW_FCGI_END_LEN], uint16_t id, uint32_t app_status,
			uint8_t protocol_status)
{
	fw_fcgi_header(r, FCGI_END_REQUEST, id, 8, 0);
	r[8] = (uint8_t)(app_status >> 24);
	r[9] = (uint8_t)(app_status >> 16);
	r[10] = (uint8_t)(app_status >> 8);
	r[11] = (uint8_t)app_status;
	r[12] = protocol_status;
	r[13] = r[14] = r[15] = 0;
}

int fw_fcgi_put_end(struct fw_buf *out, uint16_t id, uint32_t app_status, uint8_t protocol_status)
{
	uint8_t r[FW_FCGI_END_LEN];

	fw_fcgi_end_record(r, id, app_status, protocol_status);
	return fw_buf_append(out, r, sizeof(r));
}

int fw_fcgi_put_unknown_type(struct fw_buf *out, uint8_t type)
{
	uint8_t r[FCGI_HEADER_LEN + 8] = {0};

	fw_fcgi_header(r, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8, 0);
	r[8] = type;
	return fw_buf_append(out, r, sizeof(r));
}
