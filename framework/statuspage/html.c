/*
 * The status page for people (?format=html): one self-contained page, no
 * script and nothing fetched from elsewhere, a row per worker with a
 * sparkline of its private memory over the last ten minutes. Every string
 * that does not come from this file is escaped.
 */
#include <stdbool.h>
#include <stdio.h>

#include "statuspage/statuspage.h"

static const char head[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<title>fw status</title><style>"
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
	"table{border-collapse:collapse;margin:.5em 0 1em}"
	"th,td{padding:3px 9px;text-align:right;border-bottom:1px solid #ddd}"
	"th{background:#f3f3f3}.l{text-align:left}"
	".spark{vertical-align:middle}.spark polyline{fill:none;stroke:#2a6ebb;stroke-width:1.5;"
	"vector-effect:non-scaling-stroke}"
	"</style></head><body>\n<h1>fw status</h1>\n";

static int cell(struct fw_buf *b, const char *text, bool left)
{
	int rc = fw_buf_puts(b, left ? "<td class=\"l\">" : "<td>");

	rc |= fw_status_html_text(b, text);
	return rc | fw_buf_puts(b, "</td>");
}

static int cell_kb(struct fw_buf *b, uint64_t kb)
{
	char s[24];

	fw_status_kb(s, sizeof(s), kb);
	return cell(b, s, false);
}

static int cell_num(struct fw_buf *b, unsigned long long v)
{
	return fw_buf_printf(b, "<td>%llu</td>", v);
}

/* What recycles a worker, and the container's memory, next to the figures. */
static int limits(struct fw_buf *b, const struct fw_scoreboard *sb)
{
	uint64_t cg = fw_slot_load(sb->cgroup_limit_bytes);
	int rc = fw_buf_puts(b, "<table><tr><th class=\"l\">rss limit</th>");

	rc |= fw_slot_load(sb->rss_limit_kb) ? cell_kb(b, fw_slot_load(sb->rss_limit_kb))
					     : cell(b, "none", false);
	rc |= fw_buf_puts(b, "</tr><tr><th class=\"l\">rss soft limit</th>");
	rc |= fw_slot_load(sb->rss_soft_limit_kb) ? cell_kb(b, fw_slot_load(sb->rss_soft_limit_kb))
						  : cell(b, "none", false);
	rc |= fw_buf_puts(b, "</tr><tr><th class=\"l\">max requests</th>");
	if (fw_slot_load(sb->max_requests) == 0)
		rc |= cell(b, "none", false);
	else
		rc |= fw_buf_printf(b, "<td>%llu + up to %llu</td>",
				    (unsigned long long)fw_slot_load(sb->max_requests),
				    (unsigned long long)fw_slot_load(sb->max_requests_jitter));
	rc |= fw_buf_puts(b, "</tr>");
	if (cg != 0) {
		rc |= fw_buf_puts(b, "<tr><th class=\"l\">container memory</th>");
		rc |= cell_kb(b, fw_slot_load(sb->cgroup_working_set_bytes) / 1024);
		rc |= fw_buf_puts(b, "</tr><tr><th class=\"l\">container limit</th>");
		rc |= cell_kb(b, cg / 1024);
		rc |= fw_buf_puts(b, "</tr>");
	}
	return rc | fw_buf_puts(b, "</table>\n");
}

static int summary(struct fw_buf *b, const struct fw_scoreboard *sb, const struct fw_status_totals *t,
		   uint64_t now)
{
	uint64_t started = fw_slot_load(sb->started_ms);
	char age[32];
	int rc;

	fw_status_age(age, sizeof(age), now > started ? (now - started) / 1000 : 0);
	rc = fw_buf_printf(b,
			   "<table><tr><th class=\"l\">master pid</th><td>%d</td></tr>"
			   "<tr><th class=\"l\">uptime</th>",
			   (int)fw_slot_load(sb->master_pid));
	rc |= cell(b, age, false);
	rc |= fw_buf_printf(b,
			    "</tr><tr><th class=\"l\">workers wanted</th><td>%u</td></tr>"
			    "<tr><th class=\"l\">requests</th><td>%llu</td></tr>"
			    "<tr><th class=\"l\">in flight</th><td>%llu</td></tr>"
			    "<tr><th class=\"l\">connections</th><td>%llu</td></tr></table>\n",
			    fw_slot_load(sb->workers_wanted), (unsigned long long)t->requests,
			    (unsigned long long)t->in_flight, (unsigned long long)t->conns);
	rc |= limits(b, sb);
	return rc | fw_status_builds_html(b, sb, now);
}

static int recycles(struct fw_buf *b, const struct fw_scoreboard *sb)
{
	int rc = fw_buf_puts(b, "<h2>Recycles</h2>\n<table><tr>");

	for (int r = FW_RETIRE_MAX_REQUESTS; r < FW_RETIRE_NREASONS; r++) {
		rc |= fw_buf_puts(b, "<th>");
		rc |= fw_status_html_text(b, fw_retire_reason_name((enum fw_retire_reason)r));
		rc |= fw_buf_puts(b, "</th>");
	}
	rc |= fw_buf_puts(b, "</tr><tr>");
	for (int r = FW_RETIRE_MAX_REQUESTS; r < FW_RETIRE_NREASONS; r++)
		rc |= cell_num(b, fw_slot_load(sb->recycled[r]));
	return rc | fw_buf_puts(b, "</tr></table>\n");
}

static int sparkline(struct fw_buf *b, const struct fw_slot *s)
{
	uint32_t ring[FW_MEM_HISTORY];
	uint32_t written = fw_slot_load(s->mem_history_next);

	for (size_t i = 0; i < FW_MEM_HISTORY; i++)
		ring[i] = fw_slot_load(s->mem_history[i]);
	return fw_status_sparkline(b, ring, FW_MEM_HISTORY, written, FW_MEM_HISTORY_S, "private memory");
}

static int worker_build(struct fw_buf *b, const struct fw_slot *s)
{
	char build[FW_BUILD_ID_LEN], version[FW_VERSION_LEN];
	int rc = fw_buf_puts(b, "<td class=\"l\">");

	fw_status_slot_build(s, build, version);
	rc |= fw_status_build_html(b, build, version);
	return rc | fw_buf_puts(b, "</td>");
}

static int worker_row(struct fw_buf *b, const struct fw_slot *s, size_t slot, uint64_t now)
{
	uint64_t started = fw_slot_load(s->started_ms), handler = fw_slot_load(s->handler_ms);
	uint32_t retiring = fw_slot_load(s->retiring);
	char text[32];
	int rc;

	rc = fw_buf_printf(b, "<tr><td>%zu</td><td>%d</td>", slot, (int)fw_slot_load(s->pid));
	rc |= cell(b, fw_worker_mode_name((enum fw_worker_mode)fw_slot_load(s->state)), true);
	rc |= cell_num(b, fw_slot_load(s->requests));
	rc |= cell_num(b, fw_slot_load(s->in_flight));
	rc |= cell_num(b, fw_slot_load(s->conns));
	rc |= cell_kb(b, fw_slot_load(s->private_kb));
	rc |= cell_kb(b, fw_slot_load(s->rss_kb));
	rc |= cell_kb(b, fw_slot_load(s->heap_kb));
	fw_status_age(text, sizeof(text), started != 0 && now > started ? (now - started) / 1000 : 0);
	rc |= cell(b, text, false);
	text[0] = '\0';
	if (handler != 0 && now > handler)
		snprintf(text, sizeof(text), "%llu ms", (unsigned long long)(now - handler));
	rc |= cell(b, text, false);
	rc |= cell(b, retiring ? fw_retire_reason_name((enum fw_retire_reason)retiring) : "", true);
	rc |= worker_build(b, s);
	rc |= fw_buf_puts(b, "<td class=\"l\">");
	rc |= sparkline(b, s);
	return rc | fw_buf_puts(b, "</td></tr>\n");
}

static int workers(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now)
{
	int rc = fw_buf_printf(b,
			       "<h2>Workers</h2>\n<table><tr><th>slot</th><th>pid</th>"
			       "<th class=\"l\">state</th><th>requests</th><th>in flight</th>"
			       "<th>conns</th><th>private</th><th>rss</th><th>heap</th><th>age</th>"
			       "<th>busy</th><th class=\"l\">retiring</th><th class=\"l\">build</th>"
			       "<th class=\"l\">private memory, up to %d min</th></tr>\n",
			       FW_MEM_HISTORY * FW_MEM_HISTORY_S / 60);

	for (size_t i = 0; i < sb->nslots; i++)
		if (fw_slot_load(sb->slots[i].state) != FW_WORKER_FREE)
			rc |= worker_row(b, &sb->slots[i], i, now);
	return rc | fw_buf_puts(b, "</table>\n");
}

int fw_status_html(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now_ms)
{
	struct fw_status_totals t;
	int rc;

	fw_status_totals(sb, &t);
	rc = fw_buf_reserve(b, sizeof(head) + 2048 + t.workers * 1600);
	rc |= fw_buf_puts(b, head);
	rc |= summary(b, sb, &t, now_ms);
	rc |= recycles(b, sb);
	rc |= workers(b, sb, now_ms);
	return rc | fw_buf_puts(b, "<p>Also as <a href=\"?format=json\">JSON</a> and "
				   "<a href=\"?format=prometheus\">Prometheus metrics</a>. "
				   "<a href=\"?format=html&amp;refresh=5\">Refresh every 5 s</a>.</p>\n"
				   "</body></html>\n");
}
