#include "core/json.h"

#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (RFC 3629), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int fw_json_string(struct fw_buf *b, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	if (fw_buf_putc(b, '"') != 0)
		return -1;
	while (i < len) {
		size_t run = i, n;

		/* Copy runs of plain bytes at once. */
		while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i && fw_buf_append(b, s + i, run - i) != 0)
			return -1;
		i = run;
		if (i == len)
			break;
		if (s[i] == '"' || s[i] == '\\') {
			const char esc[2] = {'\\', (char)s[i]};
			if (fw_buf_append(b, esc, 2) != 0)
				return -1;
			i++;
		} else if (s[i] < 0x20) {
			if (fw_buf_printf(b, "\\u%04x", s[i]) != 0)
				return -1;
			i++;
		} else if ((n = utf8_len(s + i, len - i)) > 0) {
			if (fw_buf_append(b, s + i, n) != 0)
				return -1;
			i += n;
		} else {
			if (fw_buf_append(b, "\\ufffd", 6) != 0)
				return -1;
			i++;
		}
	}
	return fw_buf_putc(b, '"');
}
