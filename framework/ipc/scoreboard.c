#include "ipc/scoreboard.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const reason_names[FW_RETIRE_NREASONS] = {
	[FW_RETIRE_NONE] = "none",       [FW_RETIRE_MAX_REQUESTS] = "max_requests",
	[FW_RETIRE_MEMORY] = "memory",   [FW_RETIRE_TIMEOUT] = "timeout",
	[FW_RETIRE_CRASH] = "crash",     [FW_RETIRE_RELOAD] = "reload",
	[FW_RETIRE_UPGRADE] = "upgrade",
};

static const char *const phase_names[] = {
	[FW_UPGRADE_NONE] = "none",
	[FW_UPGRADE_CANARY] = "canary",
	[FW_UPGRADE_EXEC] = "exec",
	[FW_UPGRADE_ROLLING] = "rolling",
};

static const char *const result_names[FW_UPGRADE_NRESULTS] = {
	[FW_UPGRADE_NO_RESULT] = "none",
	[FW_UPGRADE_DONE] = "done",
	[FW_UPGRADE_REFUSED] = "refused",
	[FW_UPGRADE_ABANDONED] = "abandoned",
};

const char *fw_upgrade_phase_name(enum fw_upgrade_phase p)
{
	return (unsigned)p < sizeof(phase_names) / sizeof(phase_names[0]) ? phase_names[p] : "unknown";
}

const char *fw_upgrade_result_name(enum fw_upgrade_result r)
{
	return (unsigned)r < FW_UPGRADE_NRESULTS ? result_names[r] : "unknown";
}

static const char *const mode_names[] = {
	[FW_WORKER_FREE] = "free",         [FW_WORKER_BOOTING] = "booting",
	[FW_WORKER_SERVING] = "ready",     [FW_WORKER_DRAINING_ALONE] = "draining",
	[FW_WORKER_DRAINING] = "draining", [FW_WORKER_STOPPING] = "stopping",
	[FW_WORKER_ORPHANED] = "stopping",
};

const char *fw_retire_reason_name(enum fw_retire_reason r)
{
	return (unsigned)r < FW_RETIRE_NREASONS ? reason_names[r] : "unknown";
}

const char *fw_worker_mode_name(enum fw_worker_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "unknown";
}

/* 1 ms, 2.5 ms, 5 ms ... 10 s, +Inf: Prometheus' usual latency buckets. */
const uint64_t fw_hist_bounds_us[FW_HIST_BUCKETS] = {
	1000,   2500,   5000,    10000,   25000,   50000,    100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000, UINT64_MAX,
};

void fw_slot_observe(struct fw_slot *s, uint64_t us)
{
	int i = 0;

	while (us > fw_hist_bounds_us[i])
		i++;
	__atomic_store_n(&s->hist[i], s->hist[i] + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->hist_sum_us, s->hist_sum_us + us, __ATOMIC_RELAXED);
}

static size_t scoreboard_size(size_t nslots)
{
	return sizeof(struct fw_scoreboard) + nslots * sizeof(struct fw_slot);
}

struct fw_scoreboard *fw_scoreboard_create(const char *path, size_t nslots, size_t ncommit, int *fdp)
{
	size_t size = scoreboard_size(nslots);
	struct fw_scoreboard *sb;
	int fd, err;

	/* Afresh: a file left by an earlier master is replaced, never reused. */
	if (unlink(path) != 0 && errno != ENOENT)
		return NULL;
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0)
		return NULL;
	/*
	 * Blocks, not a sparse file, for what is used from the start: on a
	 * full tmpfs (a container's 64 MiB /dev/shm) a page touched later
	 * would kill the master or a worker with SIGBUS; this way the start
	 * fails with ENOSPC instead. Later slots are allocated before their
	 * first worker (fw_scoreboard_commit).
	 */
	err = ftruncate(fd, (off_t)size) != 0
		      ? errno
		      : fw_scoreboard_commit(fd, ncommit < nslots ? ncommit : nslots);
	if (err != 0) {
		close(fd);
		unlink(path);
		errno = err;
		return NULL;
	}
	sb = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = errno;
	if (sb == MAP_FAILED) {
		close(fd);
		unlink(path);
		errno = err;
		return NULL;
	}
	sb->nslots = nslots;
	sb->version = FW_SCOREBOARD_VERSION;
	for (int i = 0; i < FW_MAX_LISTENERS; i++)
		sb->accept_queue[i] = -1; /* until the master's first look */
	__atomic_store_n(&sb->magic, FW_SCOREBOARD_MAGIC, __ATOMIC_RELEASE);
	*fdp = fd;
	return sb;
}

int fw_scoreboard_commit(int fd, size_t upto)
{
	return posix_fallocate(fd, 0, (off_t)scoreboard_size(upto));
}

int fw_scoreboard_protect(struct fw_scoreboard *sb, const struct fw_slot *own)
{
	if (sysconf(_SC_PAGESIZE) != FW_SLOT_ALIGN) {
		errno = ENOTSUP; /* larger pages: a slot is not a unit of protection */
		return -1;
	}
	if (mprotect(sb, scoreboard_size(sb->nslots), PROT_READ) != 0 ||
	    mprotect((void *)own, sizeof(*own), PROT_READ | PROT_WRITE) != 0)
		return -1;
	return 0;
}

const struct fw_scoreboard *fw_scoreboard_open(const char *path, uid_t *owner)
{
	struct fw_scoreboard head;
	const struct fw_scoreboard *sb;
	struct stat st;
	ssize_t n;
	/* Not blocking (a FIFO planted there would hang the opener), not through a link. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EPROTO;
		return NULL;
	}
	n = pread(fd, &head, sizeof(head), 0);
	if (n != (ssize_t)sizeof(head) || head.magic != FW_SCOREBOARD_MAGIC ||
	    head.version != FW_SCOREBOARD_VERSION || head.nslots > FW_MAX_SLOTS ||
	    (size_t)st.st_size < scoreboard_size(head.nslots)) {
		close(fd);
		errno = EPROTO;
		return NULL;
	}
	if (owner != NULL)
		*owner = st.st_uid;
	sb = mmap(NULL, scoreboard_size(head.nslots), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	return sb == MAP_FAILED ? NULL : sb;
}

struct fw_scoreboard *fw_scoreboard_adopt(int fd)
{
	struct fw_scoreboard head, *sb;
	struct stat st;

	if (fstat(fd, &st) != 0)
		return NULL;
	if (!S_ISREG(st.st_mode) || pread(fd, &head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
	    head.magic != FW_SCOREBOARD_MAGIC || head.version != FW_SCOREBOARD_VERSION ||
	    head.nslots > FW_MAX_SLOTS || (size_t)st.st_size < scoreboard_size(head.nslots)) {
		errno = EPROTO;
		return NULL;
	}
	sb = mmap(NULL, scoreboard_size(head.nslots), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return sb == MAP_FAILED ? NULL : sb;
}

void fw_scoreboard_destroy(const struct fw_scoreboard *sb, const char *path)
{
	if (sb != NULL)
		munmap((void *)sb, scoreboard_size(sb->nslots));
	if (path != NULL)
		unlink(path);
}

/* A seqlock's writer: odd while `write` runs. */
static void seq_write_begin(uint32_t *seq)
{
	__atomic_store_n(seq, __atomic_load_n(seq, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void seq_write_end(uint32_t *seq)
{
	__atomic_store_n(seq, __atomic_load_n(seq, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
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
	seq_write_begin(&s->seq);
	copy_in(s->req_method, r->method, sizeof(s->req_method));
	copy_in(s->req_path, r->path, sizeof(s->req_path));
	seq_write_end(&s->seq);
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
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == before)
			return true;
	}
	return false;
}

void fw_slot_build_set(struct fw_slot *s, const char *build, const char *version)
{
	seq_write_begin(&s->seq);
	copy_in(s->build, build, sizeof(s->build));
	copy_in(s->version, version, sizeof(s->version));
	seq_write_end(&s->seq);
}

bool fw_slot_build_read(const struct fw_slot *s, char build[FW_BUILD_ID_LEN],
			char version[FW_VERSION_LEN])
{
	for (int tries = 0; tries < 100; tries++) {
		uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

		if (before & 1)
			continue;
		copy_out(build, s->build, FW_BUILD_ID_LEN);
		copy_out(version, s->version, FW_VERSION_LEN);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == before)
			return true;
	}
	return false;
}

/* The record as bytes, through relaxed atomics, as copy_in/copy_out. */
static void bytes_copy(void *dst, const void *src, size_t n, bool store)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	for (size_t i = 0; i < n; i++) {
		if (store)
			__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
		else
			d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
	}
}

void fw_scoreboard_upgrade_store(struct fw_scoreboard *sb, const struct fw_upgrade_info *u)
{
	seq_write_begin(&sb->upgrade_seq);
	bytes_copy(&sb->upgrade, u, sizeof(*u), true);
	seq_write_end(&sb->upgrade_seq);
}

bool fw_scoreboard_upgrade_load(const struct fw_scoreboard *sb, struct fw_upgrade_info *u)
{
	for (int tries = 0; tries < 100; tries++) {
		uint32_t before = __atomic_load_n(&sb->upgrade_seq, __ATOMIC_ACQUIRE);

		if (before & 1)
			continue;
		bytes_copy(u, &sb->upgrade, sizeof(*u), false);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&sb->upgrade_seq, __ATOMIC_RELAXED) == before) {
			u->master_build[sizeof(u->master_build) - 1] = '\0';
			u->master_version[sizeof(u->master_version) - 1] = '\0';
			u->from_build[sizeof(u->from_build) - 1] = '\0';
			u->detail[sizeof(u->detail) - 1] = '\0';
			return true;
		}
	}
	return false;
}

void fw_scoreboard_retire_slot(struct fw_scoreboard *sb, struct fw_slot *s)
{
	uint32_t seq = __atomic_load_n(&sb->retired_seq, __ATOMIC_RELAXED);

	__atomic_store_n(&sb->retired_seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	fw_slot_store(sb->requests_retired, sb->requests_retired + fw_slot_load(s->requests));
	for (int i = 0; i < FW_HIST_BUCKETS; i++)
		fw_slot_store(sb->hist_retired[i], sb->hist_retired[i] + fw_slot_load(s->hist[i]));
	fw_slot_store(sb->hist_sum_us_retired, sb->hist_sum_us_retired + fw_slot_load(s->hist_sum_us));
	memset(s, 0, sizeof(*s));
	__atomic_store_n(&sb->retired_seq, seq + 2, __ATOMIC_RELEASE);
}

uint32_t fw_scoreboard_read_begin(const struct fw_scoreboard *sb)
{
	return __atomic_load_n(&sb->retired_seq, __ATOMIC_ACQUIRE);
}

bool fw_scoreboard_read_retry(const struct fw_scoreboard *sb, uint32_t seq)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return (seq & 1) != 0 || __atomic_load_n(&sb->retired_seq, __ATOMIC_RELAXED) != seq;
}
