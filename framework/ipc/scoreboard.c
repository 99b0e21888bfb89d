#include "ipc/scoreboard.h"

#include <string.h>
#include <sys/mman.h>

static const char *const reason_names[FW_RETIRE_NREASONS] = {
	[FW_RETIRE_NONE] = "none",
	[FW_RETIRE_MAX_REQUESTS] = "max_requests",
	[FW_RETIRE_MEMORY] = "memory",
	[FW_RETIRE_TIMEOUT] = "timeout",
	[FW_RETIRE_CRASH] = "crash",
	[FW_RETIRE_RELOAD] = "reload",
};

static const char *const state_names[] = {
	[FW_SLOT_FREE] = "free",         [FW_SLOT_BOOTING] = "booting",
	[FW_SLOT_READY] = "ready",       [FW_SLOT_DRAINING] = "draining",
	[FW_SLOT_STOPPING] = "stopping",
};

const char *fw_retire_reason_name(enum fw_retire_reason r)
{
	return (unsigned)r < FW_RETIRE_NREASONS ? reason_names[r] : "unknown";
}

const char *fw_slot_state_name(enum fw_slot_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "unknown";
}

static size_t scoreboard_size(size_t nslots)
{
	return sizeof(struct fw_scoreboard) + nslots * sizeof(struct fw_slot);
}

struct fw_scoreboard *fw_scoreboard_create(size_t nslots)
{
	struct fw_scoreboard *sb = mmap(NULL, scoreboard_size(nslots), PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (sb == MAP_FAILED)
		return NULL;
	sb->nslots = nslots;
	return sb;
}

void fw_scoreboard_destroy(struct fw_scoreboard *sb)
{
	if (sb != NULL)
		munmap(sb, scoreboard_size(sb->nslots));
}

/* Byte copies through relaxed atomics: the reader may race with them by design. */
static void copy_in(char *dst, const char *src, size_t cap)
{
	size_t i = 0;

	for (; i + 1 < cap && src[i] != '\0'; i++)
		__atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
	__atomic_store_n(&dst[i], '\0', __ATOMIC_RELAXED);
}

static void copy_out(char *dst, const char *src, size_t cap)
{
	for (size_t i = 0; i < cap; i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	dst[cap - 1] = '\0';
}

void fw_slot_request_begin(struct fw_slot *s, const struct fw_slot_request *r, uint64_t now)
{
	uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	copy_in(s->req_method, r->method, sizeof(s->req_method));
	copy_in(s->req_path, r->path, sizeof(s->req_path));
	__atomic_store_n(&s->req_fd, (int32_t)r->fd, __ATOMIC_RELAXED);
	__atomic_store_n(&s->req_id, r->id, __ATOMIC_RELAXED);
	__atomic_store_n(&s->req_keep, (uint8_t)r->keep, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
	__atomic_store_n(&s->handler_ms, now, __ATOMIC_RELAXED);
}

void fw_slot_request_end(struct fw_slot *s)
{
	__atomic_store_n(&s->handler_ms, (uint64_t)0, __ATOMIC_RELAXED);
}

bool fw_slot_request_read(const struct fw_slot *s, struct fw_slot_request *out)
{
	for (int tries = 0; tries < 100; tries++) {
		uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

		if (before & 1)
			continue;
		copy_out(out->method, s->req_method, FW_SLOT_METHOD_LEN);
		copy_out(out->path, s->req_path, FW_SLOT_PATH_LEN);
		out->fd = __atomic_load_n(&s->req_fd, __ATOMIC_RELAXED);
		out->id = __atomic_load_n(&s->req_id, __ATOMIC_RELAXED);
		out->keep = __atomic_load_n(&s->req_keep, __ATOMIC_RELAXED) != 0;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == before)
			return true;
	}
	return false;
}
