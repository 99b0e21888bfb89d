/*
 * Which builds run, and the live upgrades (SIGUSR2), in the three forms
 * of the status page: during a rollout two builds serve side by side,
 * and the workers per build show how far it got.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "statuspage/statuspage.h"

void fw_status_slot_build(const struct fw_slot *s, char build[FW_BUILD_ID_LEN],
			  char version[FW_VERSION_LEN])
{
	if (!fw_slot_build_read(s, build, version))
		build[0] = version[0] = '\0';
}

size_t fw_status_builds(const struct fw_scoreboard *sb, struct fw_status_build *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < sb->nslots; i++) {
		char build[FW_BUILD_ID_LEN], version[FW_VERSION_LEN];
		size_t k = 0;

		if (fw_slot_load(sb->slots[i].state) == FW_WORKER_FREE)
			continue;
		fw_status_slot_build(&sb->slots[i], build, version);
		while (k < n &&
		       (strcmp(out[k].build, build) != 0 || strcmp(out[k].version, version) != 0))
			k++;
		if (k == n) {
			if (n == max)
				continue; /* more builds than that at once: not a rollout */
			memcpy(out[n].build, build, sizeof(build));
			memcpy(out[n].version, version, sizeof(version));
			out[n++].workers = 0;
		}
		out[k].workers++;
	}
	return n;
}

static int json_str(struct fw_buf *b, const char *name, const char *s)
{
	int rc = fw_buf_printf(b, "\"%s\": ", name);

	return rc | fw_json_string(b, s, strlen(s));
}

static unsigned long long age_s(uint64_t now, uint64_t then)
{
	return then != 0 && now > then ? (now - then) / 1000 : 0;
}

int fw_status_builds_json(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now)
{
	struct fw_upgrade_info u;
	struct fw_status_build builds[8];
	size_t n = fw_status_builds(sb, builds, 8);
	int rc;

	if (!fw_scoreboard_upgrade_load(sb, &u))
		memset(&u, 0, sizeof(u));
	rc = fw_buf_puts(b, ",\n  \"build\": {");
	rc |= json_str(b, "master", u.master_build);
	rc |= fw_buf_puts(b, ", ");
	rc |= json_str(b, "version", u.master_version);
	rc |= fw_buf_puts(b, ", \"workers\": [");
	for (size_t i = 0; i < n; i++) {
		rc |= fw_buf_puts(b, i ? ", {" : "{");
		rc |= json_str(b, "build", builds[i].build);
		rc |= fw_buf_puts(b, ", ");
		rc |= json_str(b, "version", builds[i].version);
		rc |= fw_buf_printf(b, ", \"workers\": %u}", builds[i].workers);
	}
	rc |= fw_buf_printf(b, "]},\n  \"upgrade\": {\"state\": \"%s\", \"last\": \"%s\", ",
			    fw_upgrade_phase_name((enum fw_upgrade_phase)u.phase),
			    fw_upgrade_result_name((enum fw_upgrade_result)u.result));
	rc |= fw_buf_printf(b, "\"started_age_s\": %llu, \"ended_age_s\": %llu, ",
			    age_s(now, u.started_ms), age_s(now, u.ended_ms));
	rc |= json_str(b, "from", u.from_build);
	rc |= fw_buf_puts(b, ", ");
	rc |= json_str(b, "detail", u.detail);
	return rc | fw_buf_printf(b, ", \"done\": %llu, \"refused\": %llu, \"abandoned\": %llu}",
				  (unsigned long long)u.counts[FW_UPGRADE_DONE],
				  (unsigned long long)u.counts[FW_UPGRADE_REFUSED],
				  (unsigned long long)u.counts[FW_UPGRADE_ABANDONED]);
}

static int prom_build(struct fw_buf *b, const char *name, const char *build, const char *version,
		      unsigned v)
{
	int rc = fw_buf_printf(b, "%s{build=\"", name);

	rc |= fw_status_prom_label(b, build);
	rc |= fw_buf_puts(b, "\",version=\"");
	rc |= fw_status_prom_label(b, version);
	return rc | fw_buf_printf(b, "\"} %u\n", v);
}

int fw_status_builds_prom(struct fw_buf *b, const struct fw_scoreboard *sb)
{
	struct fw_upgrade_info u;
	struct fw_status_build builds[8];
	size_t n = fw_status_builds(sb, builds, 8);
	int rc;

	if (!fw_scoreboard_upgrade_load(sb, &u))
		memset(&u, 0, sizeof(u));
	rc = fw_buf_puts(b, "# HELP fw_build_info The master's build (ELF build-id) and the "
			    "application's version (fw_set_version).\n# TYPE fw_build_info gauge\n");
	rc |= prom_build(b, "fw_build_info", u.master_build, u.master_version, 1);
	rc |= fw_buf_puts(b, "# HELP fw_workers_by_build Workers by the build they run: two during "
			     "a rollout.\n# TYPE fw_workers_by_build gauge\n");
	for (size_t i = 0; i < n; i++)
		rc |= prom_build(b, "fw_workers_by_build", builds[i].build, builds[i].version,
				 builds[i].workers);
	rc |= fw_buf_printf(b,
			    "# HELP fw_upgrade_in_progress 1 while a live upgrade (SIGUSR2) is under "
			    "way.\n# TYPE fw_upgrade_in_progress gauge\nfw_upgrade_in_progress %d\n",
			    u.phase != FW_UPGRADE_NONE);
	rc |= fw_buf_puts(b, "# HELP fw_upgrades_total Live upgrades by how they ended.\n"
			     "# TYPE fw_upgrades_total counter\n");
	for (int r = FW_UPGRADE_DONE; r < FW_UPGRADE_NRESULTS; r++)
		rc |= fw_buf_printf(b, "fw_upgrades_total{result=\"%s\"} %llu\n",
				    fw_upgrade_result_name((enum fw_upgrade_result)r),
				    (unsigned long long)u.counts[r]);
	return rc;
}

/* A build for people: its first 12 hex digits (what git shows), the version beside. */
int fw_status_build_html(struct fw_buf *b, const char *build, const char *version)
{
	char shorter[FW_BUILD_ID_LEN];
	int rc;

	if (strncmp(build, "build-id:", 9) == 0)
		snprintf(shorter, sizeof(shorter), "%.12s", build + 9);
	else
		snprintf(shorter, sizeof(shorter), "%s", build);
	rc = fw_buf_puts(b, "<span title=\"");
	rc |= fw_status_html_text(b, build);
	rc |= fw_buf_puts(b, "\">");
	rc |= fw_status_html_text(b, shorter);
	rc |= fw_buf_puts(b, "</span>");
	if (version[0] != '\0') {
		rc |= fw_buf_puts(b, " ");
		rc |= fw_status_html_text(b, version);
	}
	return rc;
}

int fw_status_builds_html(struct fw_buf *b, const struct fw_scoreboard *sb, uint64_t now)
{
	struct fw_upgrade_info u;
	char age[32];
	int rc;

	if (!fw_scoreboard_upgrade_load(sb, &u))
		memset(&u, 0, sizeof(u));
	rc = fw_buf_puts(b, "<table><tr><th class=\"l\">build</th><td class=\"l\">");
	rc |= fw_status_build_html(b, u.master_build, u.master_version);
	rc |= fw_buf_puts(b, "</td></tr><tr><th class=\"l\">upgrade</th><td class=\"l\">");
	if (u.phase != FW_UPGRADE_NONE) {
		fw_status_age(age, sizeof(age), age_s(now, u.started_ms));
		rc |= fw_buf_printf(b, "under way (%s), for %s",
				    fw_upgrade_phase_name((enum fw_upgrade_phase)u.phase), age);
	} else if (u.result != FW_UPGRADE_NO_RESULT) {
		fw_status_age(age, sizeof(age), age_s(now, u.ended_ms));
		rc |= fw_status_html_text(b, u.detail);
		rc |= fw_buf_printf(b, " (%s ago)", age);
	} else {
		rc |= fw_buf_puts(b, "none since the start");
	}
	return rc | fw_buf_puts(b, "</td></tr></table>\n");
}
