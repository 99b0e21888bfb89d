/*
 * The status page at status_path, answered by whichever worker gets the
 * request, from the scoreboard: every worker's slot, and the master's
 * counters. JSON; the field names are part of the documented interface.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "worker/worker.h"

static void worker_json(struct fw_buf *b, const struct fw_slot *s, size_t slot, uint64_t now,
			bool first)
{
	uint64_t started = fw_slot_load(s->started_ms), handler = fw_slot_load(s->handler_ms);
	uint32_t retiring = fw_slot_load(s->retiring);
	char allocs[24] = "null", frees[24] = "null";

	if (fw_slot_load(s->counting)) {
		snprintf(allocs, sizeof(allocs), "%llu", (unsigned long long)fw_slot_load(s->allocs));
		snprintf(frees, sizeof(frees), "%llu", (unsigned long long)fw_slot_load(s->frees));
	}

	fw_buf_printf(b,
		      "%s\n    {\"slot\": %zu, \"pid\": %d, \"state\": \"%s\", \"requests\": %llu, "
		      "\"in_flight\": %u, \"conns\": %u, \"rss_kb\": %llu, \"private_kb\": %llu, "
		      "\"heap_kb\": %llu, \"heap_free_kb\": %llu, \"heap_released_kb\": %llu, "
		      "\"allocator\": \"%s\", \"allocs\": %s, \"frees\": %s, "
		      "\"age_s\": %llu, \"retiring\": \"%s\", \"busy_ms\": %llu}",
		      first ? "" : ",", slot, (int)fw_slot_load(s->pid),
		      fw_slot_state_name((enum fw_slot_state)fw_slot_load(s->state)),
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
}

int fw_status_page(fw_req *req, const struct fw_scoreboard *sb)
{
	struct fw_buf *b = &req->out;
	uint64_t now = fw_now_ms(), total = fw_slot_load(sb->requests_retired);
	bool first = true;

	fw_set_header(req, "Content-Type", "application/json");
	fw_set_header(req, "Cache-Control", "no-store");
	for (size_t i = 0; i < sb->nslots; i++)
		if (fw_slot_load(sb->slots[i].state) != FW_SLOT_FREE)
			total += fw_slot_load(sb->slots[i].requests);
	fw_buf_printf(b, "{\n  \"master_pid\": %d,\n  \"uptime_s\": %llu,\n  \"workers_wanted\": %u,\n"
			 "  \"requests\": %llu,\n  \"workers\": [",
		      (int)fw_slot_load(sb->master_pid),
		      (unsigned long long)((now - fw_slot_load(sb->started_ms)) / 1000),
		      fw_slot_load(sb->workers_wanted), (unsigned long long)total);
	for (size_t i = 0; i < sb->nslots; i++) {
		if (fw_slot_load(sb->slots[i].state) == FW_SLOT_FREE)
			continue;
		worker_json(b, &sb->slots[i], i, now, first);
		first = false;
	}
	fw_buf_puts(b, "\n  ],\n  \"recycled\": {");
	for (int r = FW_RETIRE_MAX_REQUESTS; r < FW_RETIRE_NREASONS; r++)
		fw_buf_printf(b, "%s\"%s\": %llu", r == FW_RETIRE_MAX_REQUESTS ? "" : ", ",
			      fw_retire_reason_name((enum fw_retire_reason)r),
			      (unsigned long long)fw_slot_load(sb->recycled[r]));
	fw_buf_puts(b, "}\n}\n");
	return 200;
}
