/*
 * inplace: one hot-path transform written twice.
 *
 *   POST /doc?mode=copy      the usual way: a new string at every step
 *   POST /doc?mode=inplace   fw's reuse API: the request's own body buffer,
 *                            transformed where it lies, sent as the answer
 *
 * The transform cleans up a text document: CRLF line ends become LF,
 * every line is trimmed, blank lines go, the text is lower-cased and
 * every "secret" is masked. Both modes answer byte for byte the same.
 * The copy mode allocates a few objects per line for every request; the
 * in-place mode allocates nothing once the worker is warm.
 */
#include <fw.h>
#include <stdlib.h>
#include <string.h>

/* ---- copy: each step returns a new string, as most code does ---- */

static char *copy_lower(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	d[n] = '\0';
	return d;
}

static char *copy_mask(const char *s)
{
	size_t n = strlen(s), cap = n + 1, len = 0;
	char *d = malloc(cap);

	if (d == NULL)
		return NULL;
	while (*s != '\0') {
		if (strncmp(s, "secret", 6) == 0) {
			memcpy(d + len, "******", 6);
			len += 6;
			s += 6;
		} else {
			d[len++] = *s++;
		}
	}
	d[len] = '\0';
	return d;
}

static int doc_copy(fw_req *req, const char *body, size_t len)
{
	size_t out_cap = 64, out_len = 0;
	char *out = malloc(out_cap);
	const char *p = body, *end = body + len;

	if (out == NULL)
		return 500;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol != NULL ? eol : end, *a = p, *b = line_end;
		char *line, *lower, *masked;
		size_t n;

		while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		p = eol != NULL ? eol + 1 : end;
		if (a == b)
			continue;
		line = strndup(a, (size_t)(b - a));
		lower = line != NULL ? copy_lower(line, strlen(line)) : NULL;
		masked = lower != NULL ? copy_mask(lower) : NULL;
		free(line);
		free(lower);
		if (masked == NULL) {
			free(out);
			return 500;
		}
		n = strlen(masked);
		while (out_len + n + 2 > out_cap) {
			char *grown = realloc(out, out_cap * 2);
			if (grown == NULL) {
				free(masked);
				free(out);
				return 500;
			}
			out = grown;
			out_cap *= 2;
		}
		memcpy(out + out_len, masked, n);
		out_len += n;
		out[out_len++] = '\n';
		free(masked);
	}
	fw_write(req, out, out_len);
	free(out);
	return 200;
}

/* ---- in place: the body buffer is transformed where it lies ---- */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Trim every line and drop blank ones, in one pass over the buffer. */
static void trim_lines(fw_buf *b)
{
	size_t r = 0, w = 0;

	while (r < b->len) {
		size_t start = r, end;

		while (r < b->len && b->data[r] != '\n')
			r++;
		end = r;
		if (r < b->len)
			r++; /* past the '\n' */
		while (start < end && is_blank(b->data[start]))
			start++;
		while (end > start && is_blank(b->data[end - 1]))
			end--;
		if (start == end)
			continue;
		memmove(b->data + w, b->data + start, end - start);
		w += end - start;
		b->data[w++] = '\n';
	}
	fw_buf_truncate(b, w);
}

static int doc_inplace(fw_req *req)
{
	fw_buf *b = fw_request_body(req);

	fw_buf_replace(b, "\r\n", "\n");
	trim_lines(b);
	fw_buf_lower(b);
	fw_buf_replace(b, "secret", "******");
	return fw_respond_with(req, b) == 0 ? 200 : 500;
}

static int doc(fw_req *req, void *arg)
{
	const char *mode = fw_query(req, "mode");
	size_t len;
	const char *body = fw_body(req, &len);

	(void)arg;
	fw_set_header(req, "Content-Type", "text/plain; charset=utf-8");
	if (mode != NULL && strcmp(mode, "copy") == 0)
		return doc_copy(req, body != NULL ? body : "", len);
	return doc_inplace(req);
}

int main(int argc, char **argv)
{
	if (fw_route("POST", "/doc", doc, NULL) != 0)
		return 1;
	return fw_main(argc, argv);
}
