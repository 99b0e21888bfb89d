#include "proto/fcgi.h"

#include <string.h>

#include "core/result.h"

/*
 * Read one length at buf[*pos]. The high bit of the first byte selects the
 * 4-byte form, whose value is 31 bits: it always fits a uint32_t, and is
 * compared with what remains before any addition, so nothing can overflow.
 */
__attribute__((always_inline)) static inline int nv_length(const uint8_t *buf, size_t len, size_t *pos,
							   uint32_t *out)
{
	const uint8_t *p = buf + *pos;

	if (*pos >= len)
		return FW_ERROR;
	if ((p[0] & 0x80) == 0) {
		*out = p[0];
		*pos += 1;
		return FW_OK;
	}
	if (len - *pos < 4)
		return FW_ERROR;
	*out = (uint32_t)(p[0] & 0x7f) << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	*pos += 4;
	return FW_OK;
}

/* Decode the pair at *pos; on success *pos is past it. */
__attribute__((always_inline)) static inline int nv_next(const uint8_t *buf, size_t len, size_t *pos,
							 uint32_t *nlen, uint32_t *vlen)
{
	if (nv_length(buf, len, pos, nlen) != FW_OK || nv_length(buf, len, pos, vlen) != FW_OK)
		return FW_ERROR;
	if (*nlen > len - *pos)
		return FW_ERROR;
	if (*vlen > len - *pos - *nlen)
		return FW_ERROR;
	*pos += (size_t)*nlen + *vlen;
	return FW_OK;
}

int fw_fcgi_nv_count(const uint8_t *buf, size_t len, size_t *count, const char **error)
{
	size_t pos = 0, n = 0;
	uint32_t nlen, vlen;

	while (pos < len) {
		if (nv_next(buf, len, &pos, &nlen, &vlen) != FW_OK) {
			*error = "name-value pair runs past the end of its stream";
			return FW_ERROR;
		}
		n++;
	}
	*count = n;
	return FW_OK;
}

void fw_fcgi_nv_unpack(uint8_t *buf, size_t len, struct fw_nv *out, size_t count)
{
	size_t pos = 0, o = 0, i = 0;
	uint32_t nlen, vlen;

	while (pos < len && i < count) {
		if (nv_next(buf, len, &pos, &nlen, &vlen) != FW_OK)
			return; /* not reached after fw_fcgi_nv_count() said FW_OK */
		/* Name and value sit at the end of the pair just decoded. */
		const uint8_t *name = buf + pos - vlen - nlen;
		memmove(buf + o, name, nlen);
		buf[o + nlen] = '\0';
		memmove(buf + o + nlen + 1, name + nlen, vlen);
		buf[o + nlen + 1 + vlen] = '\0';
		out[i].name = (const char *)buf + o;
		out[i].name_len = nlen;
		out[i].value = (const char *)buf + o + nlen + 1;
		out[i].value_len = vlen;
		o += (size_t)nlen + vlen + 2;
		i++;
	}
}

static int put_length(struct fw_buf *out, size_t n)
{
	uint8_t b[4];

	if (n < 0x80) {
		b[0] = (uint8_t)n;
		return fw_buf_append(out, b, 1);
	}
	if (n > 0x7fffffff)
		return -1;
	b[0] = (uint8_t)(n >> 24 | 0x80);
	b[1] = (uint8_t)(n >> 16);
	b[2] = (uint8_t)(n >> 8);
	b[3] = (uint8_t)n;
	return fw_buf_append(out, b, 4);
}

int fw_fcgi_nv_put(struct fw_buf *out, const char *name, size_t nlen, const char *value, size_t vlen)
{
	/* Check both lengths first: a failed put leaves out as it was. */
	if (nlen > 0x7fffffff || vlen > 0x7fffffff || fw_buf_reserve(out, 8 + nlen + vlen) != 0)
		return -1;
	if (put_length(out, nlen) != 0 || put_length(out, vlen) != 0 ||
	    fw_buf_append(out, name, nlen) != 0 || fw_buf_append(out, value, vlen) != 0)
		return -1;
	return 0;
}
