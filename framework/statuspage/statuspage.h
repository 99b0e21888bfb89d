/*
 * The status page in its three forms, each written from the scoreboard
 * into a buffer (the request's response body): page.c (JSON, and the
 * choice of form from ?format=), prom.c (Prometheus text format 0.0.4),
 * html.c (a page for people). fmt.c holds the pure helpers they share.
 * Nothing here allocates beyond growing the buffer, and nothing knows of
 * connections or processes: a worker hands it the request.
 *
 * Writers return 0, or -1 when the buffer could not grow (what was written
 * is then incomplete: the caller throws it away).
 */
#ifndef FW_STATUSPAGE_H
#define FW_STATUSPAGE_H

#include <stddef.h>
#include <stdint.h>

#include <fw.h>

#include "core/buf.h"
#include "ipc/scoreboard.h"

/* The page at status_path, into req: its status (200, or 400 for an unknown ?format=). */
int fw_status_page(fw_req *req, const struct fw_scoreboard *sb);

/* What the forms sum over the slots in use, read in one pass. */
struct fw_status_totals {
	uint64_t requests;              /* answered: alive workers + exited ones */
	uint64_t hist[FW_HIST_BUCKETS]; /* durations, alive + exited, not cumulative */
	uint64_t hist_sum_us;
	uint64_t in_flight;
	uint64_t conns;
	uint32_t by_state[FW_WORKER_ORPHANED + 1]; /* by fw_worker_mode */
	size_t workers;                            /* slots in use */
};

void fw_status_totals(const struct fw_scoreboard *sb, struct fw_status_totals *t);

/* ---- builds.c: the builds that run, and the live upgrades ---- */

struct fw_status_build {
	char build[FW_BUILD_ID_LEN];
	char version[FW_VERSION_LEN];
	unsigned workers;
};

/* A worker's build and version ("" while unreadable). */
void fw_status_slot_build(const struct fw_slot *s, char build[FW_BUILD_ID_LEN],
			  char version[FW_VERSION_LEN]);
/* The distinct builds of the workers, with how many run each: at most max. */
size_t fw_status_builds(const struct fw_scoreboard *sb, struct fw_status_build *out, size_t max);
/* The "build" and "upgrade" members of the JSON page, each after ",\n  ". */
int fw_status_builds_json(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now_ms);
/* fw_build_info, fw_workers_by_build, fw_upgrade_in_progress, fw_upgrades_total. */
int fw_status_builds_prom(struct fw_buf *b, const struct fw_scoreboard *sb);
/* The master's build and the upgrade, as a table. */
int fw_status_builds_html(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now_ms);
/* A build for people: short, the whole in a tooltip; the version beside. */
int fw_status_build_html(struct fw_buf *b, const char *build, const char *version);

int fw_status_json(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now_ms);
int fw_status_prometheus(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now_ms);
int fw_status_html(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now_ms);

/* ---- status_fmt.c: pure helpers ---- */

/* Microseconds as exact decimal seconds, shortest form: "0.0025", "10", "1.5". */
void fw_status_seconds(char *out, size_t cap, uint64_t us);

/* s as a Prometheus label value, without the quotes: \ " and newline escaped. */
int fw_status_prom_label(struct fw_buf *b, const char *s);

/* s as HTML text or attribute value: & < > " ' escaped. */
int fw_status_html_text(struct fw_buf *b, const char *s);

/* Kilobytes for people: "208 kB", "5.7 MB", "1.2 GB". */
void fw_status_kb(char *out, size_t cap, uint64_t kb);

/* Seconds for people: "12s", "3m 4s", "5h 6m", "7d 8h". */
void fw_status_age(char *out, size_t cap, uint64_t s);

/*
 * An inline SVG line of a ring of kilobyte samples taken period_s apart:
 * ring[0..cap), `written` samples so far (the next goes to written % cap),
 * drawn oldest to newest across the whole width, scaled between their
 * minimum and maximum; an empty picture while there are none. The tooltip
 * names them `what` (escaped) with their range and the time they span.
 */
int fw_status_sparkline(struct fw_buf *b, const uint32_t *ring, size_t cap, uint32_t written,
			unsigned period_s, const char *what);

#endif
