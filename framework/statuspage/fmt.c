/*
 * Pure helpers of the status page's forms (status.h): numbers as
 * Prometheus and people read them, escaping, the memory sparkline.
 */
#include <stdio.h>
#include <string.h>

#include "statuspage/statuspage.h"

void fw_status_seconds(char *out, size_t cap, uint64_t us)
{
	unsigned long long whole = us / 1000000u, frac = us % 1000000u;
	int n;

	if (frac == 0) {
		snprintf(out, cap, "%llu", whole);
		return;
	}
	n = snprintf(out, cap, "%llu.%06llu", whole, frac);
	if (n < 0 || (size_t)n >= cap)
		return;
	while (out[n - 1] == '0')
		out[--n] = '\0';
}

/* s with each byte found in `special` replaced by its entry in `repl`. */
static int escape(struct fw_buf *b, const char *s, const char *special, const char *const *repl)
{
	int rc = 0;

	while (*s != '\0') {
		size_t run = strcspn(s, special);

		rc |= fw_buf_append(b, s, run);
		s += run;
		if (*s == '\0')
			break;
		rc |= fw_buf_puts(b, repl[strchr(special, *s) - special]);
		s++;
	}
	return rc;
}

int fw_status_prom_label(struct fw_buf *b, const char *s)
{
	static const char *const repl[] = {"\\\\", "\\\"", "\\n"};

	return escape(b, s, "\\\"\n", repl);
}

int fw_status_html_text(struct fw_buf *b, const char *s)
{
	static const char *const repl[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};

	return escape(b, s, "&<>\"'", repl);
}

void fw_status_kb(char *out, size_t cap, uint64_t kb)
{
	unsigned long long tenths;

	if (kb < 1024) {
		snprintf(out, cap, "%llu KiB", (unsigned long long)kb);
		return;
	}
	if (kb < 1024u * 1024u) {
		tenths = kb * 10 / 1024;
		snprintf(out, cap, "%llu.%llu MiB", tenths / 10, tenths % 10);
		return;
	}
	tenths = kb / 1024 * 10 / 1024;
	snprintf(out, cap, "%llu.%llu GiB", tenths / 10, tenths % 10);
}

void fw_status_age(char *out, size_t cap, uint64_t s)
{
	unsigned long long v = s;

	if (v < 60)
		snprintf(out, cap, "%llus", v);
	else if (v < 3600)
		snprintf(out, cap, "%llum %llus", v / 60, v % 60);
	else if (v < 86400)
		snprintf(out, cap, "%lluh %llum", v / 3600, v % 3600 / 60);
	else
		snprintf(out, cap, "%llud %lluh", v / 86400, v % 86400 / 3600);
}

/* The sparkline's drawing space: 10 units per sample across, 100 down. */
#define SPARK_STEP 10
#define SPARK_HEIGHT 100

static int spark_points(struct fw_buf *b, const uint32_t *ring, size_t cap, size_t first, size_t n,
			uint32_t lo, uint32_t hi)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t v = ring[(first + i) % cap];
		unsigned long long x = (unsigned long long)i * SPARK_STEP;
		unsigned long long y = hi == lo ? SPARK_HEIGHT / 2
						: SPARK_HEIGHT - 2 -
							  (unsigned long long)(v - lo) *
								  (SPARK_HEIGHT - 4) / (hi - lo);

		/* One sample is a flat line across, not an invisible point. */
		if (n == 1)
			rc |= fw_buf_printf(b, "0,%llu %d,%llu", y, SPARK_STEP, y);
		else
			rc |= fw_buf_printf(b, "%s%llu,%llu", i == 0 ? "" : " ", x, y);
	}
	return rc;
}

int fw_status_sparkline(struct fw_buf *b, const uint32_t *ring, size_t cap, uint32_t written,
			unsigned period_s, const char *what)
{
	size_t n = written < cap ? written : cap, first = written < cap ? 0 : written % cap;
	uint32_t lo = UINT32_MAX, hi = 0;
	char low[24], high[24], span[24];
	int rc;

	if (cap < 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = ring[(first + i) % cap];

		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	/* The samples there are fill the width: a young worker's climb is as
	 * easy to read as an old one's. The tooltip says what time it spans. */
	rc = fw_buf_printf(b,
			   "<svg class=\"spark\" width=\"180\" height=\"28\" viewBox=\"0 0 %zu %d\" "
			   "preserveAspectRatio=\"none\" role=\"img\"><title>",
			   (n > 1 ? n - 1 : 1) * SPARK_STEP, SPARK_HEIGHT);
	rc |= fw_status_html_text(b, what);
	if (n == 0)
		return rc | fw_buf_puts(b, ": no samples yet</title></svg>");
	fw_status_kb(low, sizeof(low), lo);
	fw_status_kb(high, sizeof(high), hi);
	fw_status_age(span, sizeof(span), (uint64_t)(n - 1) * period_s);
	if (n == 1)
		rc |= fw_buf_printf(b, ": %s, one sample", low);
	else
		rc |= fw_buf_printf(b, ": %s to %s over %s, %zu samples %us apart", low, high, span, n,
				    period_s);
	rc |= fw_buf_puts(b, "</title><polyline points=\"");
	rc |= spark_points(b, ring, cap, first, n, lo, hi);
	return rc | fw_buf_puts(b, "\"/></svg>");
}
