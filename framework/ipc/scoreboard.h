/*
 * The scoreboard: shared memory with one slot per worker, created by the
 * master before it forks. Each slot has a single writer, its worker; the
 * master (and later the status page and probes) only read. Fields are
 * written and read with relaxed atomics: a reader may see a slot mid-update
 * (requests from one moment, heartbeat from the next), never a torn number.
 */
#ifndef FW_IPC_SCOREBOARD_H
#define FW_IPC_SCOREBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FW_MAX_SLOTS 1024

enum fw_slot_state {
	FW_SLOT_FREE = 0,
	FW_SLOT_BOOTING,  /* forked, running start-up hooks */
	FW_SLOT_READY,    /* accepting */
	FW_SLOT_STOPPING, /* not accepting, finishing in-flight requests */
};

struct fw_slot {
	uint32_t state;
	int32_t pid;
	uint64_t requests;    /* served since the worker started */
	uint64_t started_ms;  /* fw_now_ms() at fork */
	uint64_t heartbeat_ms;
	uint64_t req_start_ms; /* 0 when no request is running in the handler */
	uint32_t in_flight;
	uint32_t conns;
	char pad[8];
};

struct fw_scoreboard {
	size_t nslots;
	struct fw_slot slots[];
};

/* Map a shared scoreboard (MAP_SHARED | MAP_ANONYMOUS). NULL with errno. */
struct fw_scoreboard *fw_scoreboard_create(size_t nslots);
void fw_scoreboard_destroy(struct fw_scoreboard *sb);

#define fw_slot_store(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define fw_slot_load(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

#endif
