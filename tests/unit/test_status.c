/*
 * statuspage/: the status page's forms written from a scoreboard made
 * up here (no processes), and the formatting helpers they share.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "statuspage/statuspage.h"

static void test_seconds(void)
{
	static const struct {
		uint64_t us;
		const char *want;
	} cases[] = {
		{0, "0"},         {1000, "0.001"},   {2500, "0.0025"}, {1000000, "1"},
		{1500000, "1.5"}, {123, "0.000123"}, {10000000, "10"}, {60013000, "60.013"},
	};
	char out[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fw_status_seconds(out, sizeof(out), cases[i].us);
		CHECK_EQ_STR(out, cases[i].want);
	}
	fw_status_seconds(out, 4, 1500000); /* too small: cut, still a string */
	CHECK(strlen(out) < 4);
}

static void test_escapes(void)
{
	fw_buf b = FW_BUF_INIT;

	CHECK_EQ_INT(fw_status_prom_label(&b, "a\"b\\c\nd"), 0);
	CHECK_EQ_STR(b.data, "a\\\"b\\\\c\\nd");
	fw_buf_clear(&b);
	CHECK_EQ_INT(fw_status_html_text(&b, "<a href=\"x\">&'y"), 0);
	CHECK_EQ_STR(b.data, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;y");
	fw_buf_clear(&b);
	CHECK_EQ_INT(fw_status_html_text(&b, ""), 0);
	CHECK_EQ_UINT(b.len, 0);
	fw_buf_release(&b);
}

static void test_people(void)
{
	static const struct {
		uint64_t v;
		const char *kb, *age;
	} cases[] = {
		{0, "0 KiB", "0s"},          {59, "59 KiB", "59s"},       {1023, "1023 KiB", "17m 3s"},
		{1024, "1.0 MiB", "17m 4s"}, {5808, "5.6 MiB", "1h 36m"}, {1048576, "1.0 GiB", "12d 3h"},
	};
	char out[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fw_status_kb(out, sizeof(out), cases[i].v);
		CHECK_EQ_STR(out, cases[i].kb);
		fw_status_age(out, sizeof(out), cases[i].v);
		CHECK_EQ_STR(out, cases[i].age);
	}
}

static void spark(uint32_t *ring, size_t cap, uint32_t written, const char *want)
{
	fw_buf b = FW_BUF_INIT;

	CHECK_EQ_INT(fw_status_sparkline(&b, ring, cap, written, 5, "m<e>m"), 0);
	if (!CHECK(strstr(b.data, want) != NULL))
		fprintf(stderr, "  in %s\n  want %s\n", b.data, want);
	CHECK(strncmp(b.data, "<svg ", 5) == 0);
	CHECK(strcmp(b.data + b.len - 6, "</svg>") == 0);
	CHECK(strstr(b.data, "<title>m&lt;e&gt;m") != NULL);
	fw_buf_release(&b);
}

static void test_sparkline(void)
{
	uint32_t ring[60] = {100, 200, 300};
	uint32_t small[4] = {5, 6, 3, 4};

	spark(ring, 60, 0, ": no samples yet</title></svg>");
	spark(ring, 60, 1, "viewBox=\"0 0 10 100\"");
	spark(ring, 60, 1, ": 100 KiB, one sample</title><polyline points=\"0,50 10,50\"/>");
	/* Few samples fill the width; the tooltip says the time they span. */
	spark(ring, 60, 3, "viewBox=\"0 0 20 100\"");
	spark(ring, 60, 3,
	      "100 KiB to 300 KiB over 10s, 3 samples 5s apart</title>"
	      "<polyline points=\"0,98 10,50 20,2\"/>");
	/* Wrapped: 6 written into 4, the oldest at 6 % 4 = 2. */
	spark(small, 4, 6, "viewBox=\"0 0 30 100\"");
	spark(small, 4, 6, "points=\"0,98 10,66 20,34 30,2\"");
	memset(ring, 7, sizeof(ring));
	spark(ring, 60, 1000, "over 4m 55s, 60 samples");
}

/* A scoreboard of three slots: one free, one ready, one draining; an exited worker's totals. */
static struct fw_scoreboard *board(void)
{
	/* Slots are page-aligned (one page each, the unit a worker may write). */
	size_t size = sizeof(struct fw_scoreboard) + 3 * sizeof(struct fw_slot);
	struct fw_scoreboard *sb = aligned_alloc(_Alignof(struct fw_scoreboard), size);

	if (sb == NULL)
		abort();
	memset(sb, 0, size);
	struct fw_slot *a = &sb->slots[1], *d = &sb->slots[2];

	sb->nslots = 3;
	sb->master_pid = 100;
	sb->workers_wanted = 2;
	sb->started_ms = 1000;
	sb->master_heartbeat_ms = 9000;
	sb->requests_retired = 20;
	sb->hist_retired[1] = 20;
	sb->hist_sum_us_retired = 1000;
	sb->recycled[FW_RETIRE_MAX_REQUESTS] = 2;
	sb->nlisteners = 2;
	sb->accept_queue[0] = -1;
	sb->accept_queue[1] = 3;
	*a = (struct fw_slot){.state = FW_WORKER_SERVING,
			      .pid = 101,
			      .requests = 10,
			      .conns = 2,
			      .in_flight = 1,
			      .private_kb = 100,
			      .rss_kb = 200,
			      .heap_kb = 50,
			      .started_ms = 4000,
			      .hist = {[0] = 7, [2] = 3},
			      .hist_sum_us = 12000,
			      .mem_history = {90, 100},
			      .mem_history_next = 2};
	*d = (struct fw_slot){.state = FW_WORKER_DRAINING,
			      .pid = 102,
			      .requests = 5,
			      .retiring = FW_RETIRE_MAX_REQUESTS,
			      .started_ms = 2000,
			      .handler_ms = 10000,
			      .hist = {[FW_HIST_BUCKETS - 1] = 5},
			      .hist_sum_us = 60000000};
	return sb;
}

static void has(const fw_buf *b, const char *want)
{
	if (!CHECK(strstr(b->data, want) != NULL))
		fprintf(stderr, "  missing: %s\n", want);
}

static void test_totals(void)
{
	struct fw_scoreboard *sb = board();
	struct fw_status_totals t;

	fw_status_totals(sb, &t);
	CHECK_EQ_UINT(t.requests, 35);
	CHECK_EQ_UINT(t.workers, 2);
	CHECK_EQ_UINT(t.in_flight, 1);
	CHECK_EQ_UINT(t.conns, 2);
	CHECK_EQ_UINT(t.by_state[FW_WORKER_SERVING], 1);
	CHECK_EQ_UINT(t.by_state[FW_WORKER_DRAINING], 1);
	CHECK_EQ_UINT(t.hist[0], 7);
	CHECK_EQ_UINT(t.hist[1], 20);
	CHECK_EQ_UINT(t.hist_sum_us, 60013000);
	free(sb);
}

/* Every line is a comment or "name[{labels}] value", and ends with \n. */
static void prom_lines(const fw_buf *b)
{
	const char *p = b->data, *end = b->data + b->len;

	CHECK(b->len > 0 && b->data[b->len - 1] == '\n');
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!CHECK(nl != NULL))
			return;
		CHECK(strncmp(p, "# HELP fw_", 10) == 0 || strncmp(p, "# TYPE fw_", 10) == 0 ||
		      (strncmp(p, "fw_", 3) == 0 && memchr(p, ' ', (size_t)(nl - p)) != NULL));
		p = nl + 1;
	}
}

static void test_prometheus(void)
{
	struct fw_scoreboard *sb = board();
	fw_buf b = FW_BUF_INIT;

	CHECK_EQ_INT(fw_status_prometheus(&b, sb, 10500), 0);
	prom_lines(&b);
	has(&b, "# TYPE fw_requests_total counter\nfw_requests_total 35\n");
	has(&b, "fw_requests_in_flight 1\n");
	has(&b, "fw_connections 2\n");
	has(&b, "fw_workers{state=\"booting\"} 0\nfw_workers{state=\"ready\"} 1\n"
		"fw_workers{state=\"draining\"} 1\nfw_workers{state=\"stopping\"} 0\n");
	has(&b, "fw_workers_wanted 2\n");
	has(&b, "fw_recycles_total{reason=\"max_requests\"} 2\n");
	has(&b, "fw_recycles_total{reason=\"reload\"} 0\n");
	has(&b, "gauge\nfw_accept_queue_connections{listener=\"1\"} 3\n# HELP");
	CHECK(strstr(b.data, "listener=\"0\"") == NULL);
	has(&b, "fw_worker_requests_total{slot=\"1\",pid=\"101\"} 10\n"
		"fw_worker_requests_total{slot=\"2\",pid=\"102\"} 5\n");
	has(&b, "fw_worker_private_memory_bytes{slot=\"1\",pid=\"101\"} 102400\n");
	has(&b, "fw_worker_rss_bytes{slot=\"1\",pid=\"101\"} 204800\n");
	has(&b, "fw_worker_heap_bytes{slot=\"2\",pid=\"102\"} 0\n");
	has(&b, "fw_request_duration_seconds_bucket{le=\"0.001\"} 7\n"
		"fw_request_duration_seconds_bucket{le=\"0.0025\"} 27\n"
		"fw_request_duration_seconds_bucket{le=\"0.005\"} 30\n");
	has(&b, "fw_request_duration_seconds_bucket{le=\"10\"} 30\n"
		"fw_request_duration_seconds_bucket{le=\"+Inf\"} 35\n"
		"fw_request_duration_seconds_sum 60.013\n"
		"fw_request_duration_seconds_count 35\n");
	has(&b, "fw_master_uptime_seconds 9.5\n");
	has(&b, "fw_master_heartbeat_age_seconds 1.5\n");
	fw_buf_release(&b);
	free(sb);
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

static void test_html_json(void)
{
	struct fw_scoreboard *sb = board();
	fw_buf b = FW_BUF_INIT;

	CHECK_EQ_INT(fw_status_html(&b, sb, 10500), 0);
	CHECK(strncmp(b.data, "<!DOCTYPE html>", 15) == 0);
	has(&b, "<td>100</td>");
	has(&b, "<tr><td>1</td><td>101</td><td class=\"l\">ready</td><td>10</td>");
	has(&b, "<td>102</td><td class=\"l\">draining</td>");
	has(&b, "<td>500 ms</td><td class=\"l\">max_requests</td>");
	has(&b, "90 KiB to 100 KiB over 5s, 2 samples 5s apart");
	has(&b, "no samples yet");
	CHECK_EQ_UINT(count(b.data, "<svg "), 2);
	CHECK_EQ_UINT(count(b.data, "<table>"), count(b.data, "</table>"));
	CHECK_EQ_UINT(count(b.data, "<tr>"), count(b.data, "</tr>"));
	CHECK(strstr(b.data, "http") == NULL);
	CHECK(b.len < 8192);

	fw_buf_clear(&b);
	CHECK_EQ_INT(fw_status_json(&b, sb, 10500), 0);
	has(&b,
	    "\"master_pid\": 100,\n  \"uptime_s\": 9,\n  \"workers_wanted\": 2,\n  \"requests\": 35,");
	has(&b, "{\"slot\": 1, \"pid\": 101, \"state\": \"ready\", \"requests\": 10,");
	has(&b, "\"age_s\": 8, \"retiring\": \"max_requests\", \"busy_ms\": 500, \"build\": \"\", "
		"\"version\": \"\"}");
	has(&b, "\"recycled\": {\"max_requests\": 2, \"memory\": 0, \"timeout\": 0, \"crash\": 0, "
		"\"reload\": 0, \"upgrade\": 0}");
	fw_buf_release(&b);
	free(sb);
}

/* The limits in effect and the container's memory, in every form; none without a cgroup. */
static void test_limits(void)
{
	struct fw_scoreboard *sb = board();
	fw_buf b = FW_BUF_INIT;

	CHECK_EQ_INT(fw_status_json(&b, sb, 10500), 0);
	has(&b, "\"limits\": {\"rss_limit_mb\": 0, \"rss_soft_limit_mb\": 0, \"max_requests\": 0, "
		"\"max_requests_jitter\": 0, \"timeout_s\": 0},\n  \"cgroup\": null,");
	fw_buf_clear(&b);
	CHECK_EQ_INT(fw_status_prometheus(&b, sb, 10500), 0);
	has(&b, "fw_worker_rss_limit_bytes 0\n");
	CHECK(strstr(b.data, "\nfw_cgroup_memory_limit_bytes ") == NULL);
	fw_buf_clear(&b);
	CHECK_EQ_INT(fw_status_html(&b, sb, 10500), 0);
	CHECK(strstr(b.data, "container limit") == NULL);

	sb->rss_limit_kb = 145 * 1024;
	sb->rss_soft_limit_kb = 100 * 1024;
	sb->max_requests = 10000;
	sb->max_requests_jitter = 1000;
	sb->timeout_s = 60;
	sb->cgroup_limit_bytes = 512ull << 20;
	sb->cgroup_working_set_bytes = 300ull << 20;
	fw_buf_clear(&b);
	CHECK_EQ_INT(fw_status_json(&b, sb, 10500), 0);
	has(&b,
	    "\"limits\": {\"rss_limit_mb\": 145, \"rss_soft_limit_mb\": 100, \"max_requests\": 10000, "
	    "\"max_requests_jitter\": 1000, \"timeout_s\": 60},\n"
	    "  \"cgroup\": {\"limit_bytes\": 536870912, \"working_set_bytes\": 314572800},");
	fw_buf_clear(&b);
	CHECK_EQ_INT(fw_status_prometheus(&b, sb, 10500), 0);
	prom_lines(&b);
	has(&b, "fw_worker_rss_limit_bytes 152043520\n");
	has(&b, "fw_worker_rss_soft_limit_bytes 104857600\n");
	has(&b, "fw_worker_max_requests 10000\n");
	has(&b, "fw_cgroup_memory_limit_bytes 536870912\n");
	has(&b, "fw_cgroup_memory_working_set_bytes 314572800\n");
	fw_buf_clear(&b);
	CHECK_EQ_INT(fw_status_html(&b, sb, 10500), 0);
	has(&b, "<td>10000 + up to 1000</td>");
	has(&b, "container limit");
	fw_buf_release(&b);
	free(sb);
}

/* A rollout: two builds side by side, the upgrade under way, the last one's result, each form. */
static void test_builds(void)
{
	struct fw_scoreboard *sb = board();
	struct fw_upgrade_info u = {.phase = FW_UPGRADE_ROLLING,
				    .result = FW_UPGRADE_REFUSED,
				    .started_ms = 8500,
				    .ended_ms = 6500,
				    .counts = {[FW_UPGRADE_DONE] = 3, [FW_UPGRADE_REFUSED] = 1}};
	struct fw_status_build builds[4];
	fw_buf b = FW_BUF_INIT;

	snprintf(u.master_build, sizeof(u.master_build), "build-id:0123456789abcdef0123");
	snprintf(u.master_version, sizeof(u.master_version), "1.4.2");
	snprintf(u.from_build, sizeof(u.from_build), "build-id:ffff");
	snprintf(u.detail, sizeof(u.detail), "upgrade refused: \"/opt/app\" <crashed>");
	fw_scoreboard_upgrade_store(sb, &u);
	fw_slot_build_set(&sb->slots[1], "build-id:0123456789abcdef0123", "1.4.2");
	fw_slot_build_set(&sb->slots[2], "build-id:ffff", "1.4.1");
	CHECK_EQ_UINT(fw_status_builds(sb, builds, 4), 2);
	CHECK_EQ_UINT(builds[0].workers, 1);
	CHECK_EQ_STR(builds[1].version, "1.4.1");
	CHECK_EQ_UINT(fw_status_builds(sb, builds, 1), 1); /* more than asked for: the first */

	CHECK_EQ_INT(fw_status_json(&b, sb, 10500), 0);
	has(&b, "\"busy_ms\": 0, \"build\": \"build-id:0123456789abcdef0123\", \"version\": \"1.4.2\"}");
	has(&b, "\"build\": {\"master\": \"build-id:0123456789abcdef0123\", \"version\": \"1.4.2\", "
		"\"workers\": [{\"build\": \"build-id:0123456789abcdef0123\", \"version\": \"1.4.2\", "
		"\"workers\": 1}, {\"build\": \"build-id:ffff\", \"version\": \"1.4.1\", \"workers\": "
		"1}]},");
	has(&b, "\"upgrade\": {\"state\": \"rolling\", \"last\": \"refused\", \"started_age_s\": 2, "
		"\"ended_age_s\": 4, \"from\": \"build-id:ffff\", \"detail\": \"upgrade refused: "
		"\\\"/opt/app\\\" <crashed>\", \"done\": 3, \"refused\": 1, \"abandoned\": 0}");
	fw_buf_truncate(&b, 0);
	CHECK_EQ_INT(fw_status_prometheus(&b, sb, 10500), 0);
	prom_lines(&b);
	has(&b, "fw_build_info{build=\"build-id:0123456789abcdef0123\",version=\"1.4.2\"} 1\n");
	has(&b, "fw_workers_by_build{build=\"build-id:ffff\",version=\"1.4.1\"} 1\n");
	has(&b, "fw_upgrade_in_progress 1\n");
	has(&b, "fw_upgrades_total{result=\"done\"} 3\nfw_upgrades_total{result=\"refused\"} 1\n");
	fw_buf_truncate(&b, 0);
	CHECK_EQ_INT(fw_status_html(&b, sb, 10500), 0);
	has(&b, "<span title=\"build-id:0123456789abcdef0123\">0123456789ab</span> 1.4.2");
	has(&b, "under way (rolling), for 2s");
	u.phase = FW_UPGRADE_NONE;
	fw_scoreboard_upgrade_store(sb, &u);
	fw_buf_truncate(&b, 0);
	CHECK_EQ_INT(fw_status_html(&b, sb, 10500), 0);
	has(&b, "upgrade refused: &quot;/opt/app&quot; &lt;crashed&gt; (4s ago)");
	fw_buf_release(&b);
	free(sb);
}

int main(void)
{
	test_seconds();
	test_escapes();
	test_people();
	test_sparkline();
	test_totals();
	test_prometheus();
	test_html_json();
	test_limits();
	test_builds();
	return check_done();
}
