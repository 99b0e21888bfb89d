/*
 * The status page at status_path, answered by whichever worker gets the
 * request, from the scoreboard: every worker's slot, and the master's
 * counters. ?format= picks the form: json (the default), prometheus or
 * html (prom.c, html.c). The JSON field names and the
 * Prometheus families are part of the documented interface
 * (docs/operations.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "http/req.h"
#include "statuspage/statuspage.h"

static void add_slot(struct fw_status_totals *t, const struct fw_slot *s)
{
	uint32_t state = fw_slot_load(s->state);

	t->workers++;
	if (state < sizeof(t->by_state) / sizeof(t->by_state[0]))
		t->by_state[state]++;
	t->requests += fw_slot_load(s->requests);
	t->in_flight += fw_slot_load(s->in_flight);
	t->conns += fw_slot_load(s->conns);
	for (int i = 0; i < FW_HIST_BUCKETS; i++)
		t->hist[i] += fw_slot_load(s->hist[i]);
	t->hist_sum_us += fw_slot_load(s->hist_sum_us);
}

static void sum_once(const struct fw_scoreboard *sb, struct fw_status_totals *t)
{
	memset(t, 0, sizeof(*t));
	t->requests = fw_slot_load(sb->requests_retired);
	for (int i = 0; i < FW_HIST_BUCKETS; i++)
		t->hist[i] = fw_slot_load(sb->hist_retired[i]);
	t->hist_sum_us = fw_slot_load(sb->hist_sum_us_retired);
	for (size_t i = 0; i < sb->nslots; i++)
		if (fw_slot_load(sb->slots[i].state) != FW_WORKER_FREE)
			add_slot(t, &sb->slots[i]);
}

/* A sum across a worker's exit would count it twice or not at all: read again. */
void fw_status_totals(const struct fw_scoreboard *sb, struct fw_status_totals *t)
{
	for (int tries = 0; tries < 100; tries++) {
		uint32_t seq = fw_scoreboard_read_begin(sb);

		sum_once(sb, t);
		if (!fw_scoreboard_read_retry(sb, seq))
			return;
	}
}

static int worker_json(struct fw_buf *b, const struct fw_slot *s, size_t slot, uint64_t now, bool first)
{
	uint64_t started = fw_slot_load(s->started_ms), handler = fw_slot_load(s->handler_ms);
	uint32_t retiring = fw_slot_load(s->retiring);
	char allocs[24] = "null", frees[24] = "null";
	char build[FW_BUILD_ID_LEN], version[FW_VERSION_LEN];
	int rc;

	if (fw_slot_load(s->counting)) {
		snprintf(allocs, sizeof(allocs), "%llu", (unsigned long long)fw_slot_load(s->allocs));
		snprintf(frees, sizeof(frees), "%llu", (unsigned long long)fw_slot_load(s->frees));
	}

	fw_status_slot_build(s, build, version);
	rc = fw_buf_printf(
		b,
		"%s\n    {\"slot\": %zu, \"pid\": %d, \"state\": \"%s\", \"requests\": %llu, "
		"\"in_flight\": %u, \"conns\": %u, \"rss_kb\": %llu, \"private_kb\": %llu, "
		"\"heap_kb\": %llu, \"heap_free_kb\": %llu, \"heap_released_kb\": %llu, "
		"\"allocator\": \"%s\", \"allocs\": %s, \"frees\": %s, "
		"\"age_s\": %llu, \"retiring\": \"%s\", \"busy_ms\": %llu, \"build\": ",
		first ? "" : ",", slot, (int)fw_slot_load(s->pid),
		fw_worker_mode_name((enum fw_worker_mode)fw_slot_load(s->state)),
		(unsigned long long)fw_slot_load(s->requests), fw_slot_load(s->in_flight),
		fw_slot_load(s->conns), (unsigned long long)fw_slot_load(s->rss_kb),
		(unsigned long long)fw_slot_load(s->private_kb),
		(unsigned long long)fw_slot_load(s->heap_kb),
		(unsigned long long)fw_slot_load(s->heap_free_kb),
		(unsigned long long)fw_slot_load(s->heap_released_kb),
		fw_slot_load(s->tcmalloc) ? "tcmalloc" : "system", allocs, frees,
		(unsigned long long)(started != 0 && now > started ? (now - started) / 1000 : 0),
		retiring ? fw_retire_reason_name((enum fw_retire_reason)retiring) : "",
		(unsigned long long)(handler != 0 && now > handler ? now - handler : 0));
	rc |= fw_json_string(b, build, strlen(build));
	rc |= fw_buf_puts(b, ", \"version\": ");
	rc |= fw_json_string(b, version, strlen(version));
	return rc | fw_buf_puts(b, "}");
}

int fw_status_json(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now)
{
	struct fw_status_totals t;
	uint64_t started = fw_slot_load(sb->started_ms);
	bool first = true;
	int rc;

	fw_status_totals(sb, &t);
	rc = fw_buf_reserve(b, 256 + t.workers * 400);
	rc |= fw_buf_printf(
		b,
		"{\n  \"master_pid\": %d,\n  \"uptime_s\": %llu,\n  \"workers_wanted\": %u,\n"
		"  \"requests\": %llu,\n  \"workers\": [",
		(int)fw_slot_load(sb->master_pid),
		(unsigned long long)(now > started ? (now - started) / 1000 : 0),
		fw_slot_load(sb->workers_wanted), (unsigned long long)t.requests);
	for (size_t i = 0; i < sb->nslots; i++) {
		if (fw_slot_load(sb->slots[i].state) == FW_WORKER_FREE)
			continue;
		rc |= worker_json(b, &sb->slots[i], i, now, first);
		first = false;
	}
	rc |= fw_buf_printf(
		b,
		"\n  ],\n  \"limits\": {\"rss_limit_mb\": %llu, \"rss_soft_limit_mb\": %llu, "
		"\"max_requests\": %llu, \"max_requests_jitter\": %llu, \"timeout_s\": %llu},\n"
		"  \"cgroup\": ",
		(unsigned long long)fw_slot_load(sb->rss_limit_kb) / 1024,
		(unsigned long long)fw_slot_load(sb->rss_soft_limit_kb) / 1024,
		(unsigned long long)fw_slot_load(sb->max_requests),
		(unsigned long long)fw_slot_load(sb->max_requests_jitter),
		(unsigned long long)fw_slot_load(sb->timeout_s));
	if (fw_slot_load(sb->cgroup_limit_bytes) == 0)
		rc |= fw_buf_puts(b, "null");
	else
		rc |= fw_buf_printf(b, "{\"limit_bytes\": %llu, \"working_set_bytes\": %llu}",
				    (unsigned long long)fw_slot_load(sb->cgroup_limit_bytes),
				    (unsigned long long)fw_slot_load(sb->cgroup_working_set_bytes));
	rc |= fw_status_builds_json(b, sb, now);
	rc |= fw_buf_puts(b, ",\n  \"recycled\": {");
	for (int r = FW_RETIRE_MAX_REQUESTS; r < FW_RETIRE_NREASONS; r++)
		rc |= fw_buf_printf(b, "%s\"%s\": %llu", r == FW_RETIRE_MAX_REQUESTS ? "" : ", ",
				    fw_retire_reason_name((enum fw_retire_reason)r),
				    (unsigned long long)fw_slot_load(sb->recycled[r]));
	return rc | fw_buf_puts(b, "}\n}\n");
}

static const struct {
	const char *name;
	const char *type;
	int (*write)(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now_ms);
} forms[] = {
	{"json", "application/json", fw_status_json},
	{"prometheus", "text/plain; version=0.0.4; charset=utf-8", fw_status_prometheus},
	{"html", "text/html; charset=utf-8", fw_status_html},
};

int fw_status_page(fw_req *req, const struct fw_scoreboard *sb)
{
	const char *format = fw_query(req, "format"), *refresh;
	size_t i = 0;

	if (format != NULL)
		while (i < sizeof(forms) / sizeof(forms[0]) && strcmp(format, forms[i].name) != 0)
			i++;
	fw_set_header(req, "Cache-Control", "no-store");
	if (i == sizeof(forms) / sizeof(forms[0])) {
		fw_set_header(req, "Content-Type", "text/plain; charset=utf-8");
		fw_buf_puts(&req->out,
			    "unknown format: use format=json, format=prometheus or format=html\n");
		return 400;
	}
	fw_set_header(req, "Content-Type", forms[i].type);
	/* &refresh=N: the browser reloads the page every N seconds (the
	 * Refresh header, which HTML defines as its meta refresh). */
	if ((refresh = fw_query(req, "refresh")) != NULL) {
		char *end;
		long n = strtol(refresh, &end, 10);

		char value[8];

		/* Digits only: strtol also takes leading blanks, CR and LF among them. */
		if (refresh[0] < '0' || refresh[0] > '9' || *end != '\0' || n < 1 || n > 3600) {
			fw_set_header(req, "Content-Type", "text/plain; charset=utf-8");
			fw_buf_puts(&req->out, "refresh: seconds, 1 to 3600\n");
			return 400;
		}
		snprintf(value, sizeof(value), "%ld", n);
		if (fw_set_header(req, "Refresh", value) != 0)
			return 500;
	}
	if (forms[i].write(&req->out, sb, fw_now_ms()) != 0) {
		fw_buf_truncate(&req->out, 0); /* out of memory: the default 500 page */
		return 500;
	}
	return 200;
}
