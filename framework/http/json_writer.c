/*
 * fw_json: JSON text into an fw_buf with no allocation of its own. The
 * nesting is two bit sets (object or array, empty or not) indexed by
 * depth, so the writer fits in a few words on the caller's stack.
 */
#include <fw/json.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "http/req.h"
#include "http/resp.h"

#define BIT(d) (1ULL << (d))

FW_API void fw_json_init(fw_json *j, fw_buf *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

FW_API int fw_json_init_response(fw_json *j, fw_req *req)
{
	fw_json_init(j, &req->out);
	if (!fw_resp_writable(req, "fw_json_init_response")) {
		j->error = 1;
		return -1;
	}
	if (fw_resp_has_header(req, "Content-Type"))
		return 0;
	return fw_set_header(req, "Content-Type", "application/json");
}

static int fail(fw_json *j)
{
	j->error = 1;
	return -1;
}

/* Before a value: the comma, and whether a value may come here at all. */
static int value_begin(fw_json *j)
{
	if (j->error)
		return -1;
	if (j->depth == 0) {
		if (j->done)
			return fail(j);
		return 0;
	}
	if (j->object & BIT(j->depth)) {
		if (!j->key_pending)
			return fail(j);
		j->key_pending = 0;
		return 0;
	}
	if ((j->nonempty & BIT(j->depth)) && fw_buf_putc(j->out, ',') != 0)
		return fail(j);
	j->nonempty |= BIT(j->depth);
	return 0;
}

static int value_end(fw_json *j, int r)
{
	if (r != 0)
		return fail(j);
	if (j->depth == 0)
		j->done = 1;
	return 0;
}

static int container_open(fw_json *j, bool object)
{
	if (value_begin(j) != 0)
		return -1;
	if (j->depth + 1 >= FW_JSON_MAX_DEPTH || fw_buf_putc(j->out, object ? '{' : '[') != 0)
		return fail(j);
	j->depth++;
	j->object = object ? j->object | BIT(j->depth) : j->object & ~BIT(j->depth);
	j->nonempty &= ~BIT(j->depth);
	return 0;
}

FW_API int fw_json_object(fw_json *j)
{
	return container_open(j, true);
}

FW_API int fw_json_array(fw_json *j)
{
	return container_open(j, false);
}

FW_API int fw_json_close(fw_json *j)
{
	bool object = (j->object & BIT(j->depth)) != 0;

	if (j->error || j->depth == 0 || j->key_pending)
		return fail(j);
	if (fw_buf_putc(j->out, object ? '}' : ']') != 0)
		return fail(j);
	j->depth--;
	return value_end(j, 0);
}

FW_API int fw_json_key(fw_json *j, const char *key)
{
	if (j->error || j->depth == 0 || !(j->object & BIT(j->depth)) || j->key_pending || key == NULL)
		return fail(j);
	if (((j->nonempty & BIT(j->depth)) && fw_buf_putc(j->out, ',') != 0) ||
	    fw_json_string(j->out, key, strlen(key)) != 0 || fw_buf_putc(j->out, ':') != 0)
		return fail(j);
	j->nonempty |= BIT(j->depth);
	j->key_pending = 1;
	return 0;
}

FW_API int fw_json_strn(fw_json *j, const char *s, size_t len)
{
	if (value_begin(j) != 0)
		return -1;
	return value_end(j, fw_json_string(j->out, s, len));
}

FW_API int fw_json_str(fw_json *j, const char *s)
{
	return s == NULL ? fw_json_null(j) : fw_json_strn(j, s, strlen(s));
}

static int literal(fw_json *j, const char *text)
{
	if (value_begin(j) != 0)
		return -1;
	return value_end(j, fw_buf_puts(j->out, text));
}

FW_API int fw_json_int(fw_json *j, long long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", v);
	return literal(j, num);
}

FW_API int fw_json_uint(fw_json *j, unsigned long long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", v);
	return literal(j, num);
}

FW_API int fw_json_double(fw_json *j, double v)
{
	char num[32];

	if (!isfinite(v))
		return value_begin(j) != 0 ? -1 : fail(j);
	/* The shortest of 15 or 17 digits that reads back as the same double. */
	snprintf(num, sizeof(num), "%.15g", v);
	if (strtod(num, NULL) != v)
		snprintf(num, sizeof(num), "%.17g", v);
	return literal(j, num);
}

FW_API int fw_json_bool(fw_json *j, int v)
{
	return literal(j, v ? "true" : "false");
}

FW_API int fw_json_null(fw_json *j)
{
	return literal(j, "null");
}

FW_API int fw_json_value(fw_json *j, const json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (fw_json_object(j) != 0)
			return -1;
		/* const: jansson's iteration macros take a non-const object but do not change it */
		json_object_foreach((json_t *)v, key, item)
		{
			if (fw_json_key(j, key) != 0 || fw_json_value(j, item) != 0)
				return -1;
		}
		return fw_json_close(j);
	case JSON_ARRAY:
		if (fw_json_array(j) != 0)
			return -1;
		json_array_foreach(v, i, item)
		{
			if (fw_json_value(j, item) != 0)
				return -1;
		}
		return fw_json_close(j);
	case JSON_STRING:
		return fw_json_strn(j, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return fw_json_int(j, json_integer_value(v));
	case JSON_REAL:
		return fw_json_double(j, json_real_value(v));
	case JSON_TRUE:
		return fw_json_bool(j, 1);
	case JSON_FALSE:
		return fw_json_bool(j, 0);
	default:
		return fw_json_null(j);
	}
}

FW_API int fw_json_end(fw_json *j)
{
	return !j->error && j->depth == 0 && j->done ? 0 : -1;
}
