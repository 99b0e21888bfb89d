/*
 * The master's table as text, for its next image (a live upgrade): the
 * master re-executes itself in place, and what it holds (listening
 * sockets, the scoreboard, every worker's process and descriptors, the
 * policy's state, connections waiting for a worker) crosses the execve()
 * in a memory file, with the descriptors themselves left open.
 *
 * Text, one record per line, fields as name=value: the two images may
 * be different builds, so nothing depends on a struct's layout, an
 * unknown record or field is an error, and the version is checked first
 * (by the canary, before the master commits: main/exec_worker.c).
 * fw_image_read() is a parser over bytes: unit tested and fuzzed.
 *
 *   fw-master-image 1
 *   master sb_fd=5 sb_committed=6 nlisteners=1 nhandoffs=0
 *   state_path /dev/shm/fw-1000/fw-....sb
 *   listener i=0 fd=3 proto=0 status=0 dev=... ino=...
 *   listener_addr 0 /run/app.sock
 *   keep socket_mode=432 backlog=511
 *   keep_str user www-data                  (socket_owner, socket_group, user, group)
 *   policy mode=0 nslots=3 boot_failures=0 ... upgrade=2 canary=2 canary_gen=1
 *   slot i=0 state=2 gen=1 ...              (every slot below nslots)
 *   proc i=0 pid=1234 chan=7 chan_worker=8 peer=-1
 *   handoff fd=12 kind=1
 *   end
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "master/master.h"

struct field {
	const char *name;
	size_t off, size;
	bool is_signed;
};

#define PSLOT_SIZE 80
#define POLICY_SIZE (96 + FW_MAX_SLOTS * PSLOT_SIZE)
#define FIELD(T, f, sign)                                     \
	{                                                     \
#f, offsetof(T, f), sizeof(((T *)0)->f), sign \
	}
#define U(T, f) FIELD(T, f, false)
#define S(T, f) FIELD(T, f, true)

/*
 * The policy's state; its settings come from the configuration the new
 * image reads. A field added to either struct must be added here: the
 * sizes below stop the build until it is.
 */
static const struct field policy_fields[] = {
	S(struct fw_policy, mode),
	U(struct fw_policy, nslots),
	S(struct fw_policy, boot_failures),
	U(struct fw_policy, spawn_after_ms),
	U(struct fw_policy, stop_deadline_ms),
	U(struct fw_policy, killed),
	U(struct fw_policy, announced),
	U(struct fw_policy, reloading),
	S(struct fw_policy, cgroup_victim),
	U(struct fw_policy, cgroup_victim_gen),
	U(struct fw_policy, cgroup_warned_ms),
	S(struct fw_policy, exit_status),
	S(struct fw_policy, upgrade),
	S(struct fw_policy, canary),
	U(struct fw_policy, canary_gen),
};

static const struct field slot_fields[] = {
	S(struct fw_pslot, state),       U(struct fw_pslot, gen),
	U(struct fw_pslot, spawned_ms),  S(struct fw_pslot, retire),
	U(struct fw_pslot, retire_ms),   U(struct fw_pslot, retire_figure),
	S(struct fw_pslot, replaces),    U(struct fw_pslot, replaces_gen),
	S(struct fw_pslot, boot_round),  U(struct fw_pslot, timed_out),
	U(struct fw_pslot, stuck_since), U(struct fw_pslot, stuck_asked_ms),
	U(struct fw_pslot, boot_killed), U(struct fw_pslot, exec),
	U(struct fw_pslot, old_build),
};

_Static_assert(sizeof(struct fw_pslot) == PSLOT_SIZE,
	       "struct fw_pslot changed: update slot_fields in master/image.c");
_Static_assert(sizeof(struct fw_policy) == POLICY_SIZE,
	       "struct fw_policy changed: update policy_fields in master/image.c");

static const struct field proc_fields[] = {
	S(struct fw_proc, pid),
	S(struct fw_proc, chan),
	S(struct fw_proc, chan_worker),
	S(struct fw_proc, peer),
};

static const struct field listener_fields[] = {
	S(struct fw_socket, fd),  S(struct fw_socket, proto), U(struct fw_socket, status),
	U(struct fw_socket, dev), U(struct fw_socket, ino),
};

static const struct field handoff_fields[] = {
	S(struct fw_handoff, fd),
	U(struct fw_handoff, kind),
};

static const struct field keep_fields[] = {
	S(struct fw_config, socket_mode),
	S(struct fw_config, backlog),
};

#define NF(a) (sizeof(a) / sizeof((a)[0]))

/* The configuration's string keys that need a restart, as the running master has them. */
static const struct {
	const char *name;
	size_t off, size;
} keep_strs[] = {
#define KEEP_STR(k)                                                                   \
	{                                                                             \
#k, offsetof(struct fw_config, k), sizeof(((struct fw_config *)0)->k) \
	}
	KEEP_STR(socket_owner), KEEP_STR(socket_group), KEEP_STR(user),
	KEEP_STR(group),        KEEP_STR(state_path),
#undef KEEP_STR
};

static long long get(const void *base, const struct field *f)
{
	const char *p = (const char *)base + f->off;
	int8_t i8;
	int16_t i16;
	int32_t i32;
	int64_t i64;

	switch (f->size) {
	case 1:
		memcpy(&i8, p, 1);
		return f->is_signed ? i8 : (long long)(uint8_t)i8;
	case 2:
		memcpy(&i16, p, 2);
		return f->is_signed ? i16 : (long long)(uint16_t)i16;
	case 4:
		memcpy(&i32, p, 4);
		return f->is_signed ? i32 : (long long)(uint32_t)i32;
	default:
		memcpy(&i64, p, 8);
		return i64;
	}
}

/* Stored truncated to the field's size: the reader checks the range first. */
static void put(void *base, const struct field *f, long long v)
{
	char *p = (char *)base + f->off;
	int8_t i8 = (int8_t)v;
	int16_t i16 = (int16_t)v;
	int32_t i32 = (int32_t)v;
	int64_t i64 = v;

	if (f->size == 1)
		memcpy(p, &i8, 1);
	else if (f->size == 2)
		memcpy(p, &i16, 2);
	else if (f->size == 4)
		memcpy(p, &i32, 4);
	else
		memcpy(p, &i64, 8);
}

/* v as parse_value() read it: signed in the field's range, unsigned (bits as they are) below its top. */
static bool in_range(const struct field *f, long long v)
{
	unsigned bits = (unsigned)f->size * 8;

	if (f->size == 1 && !f->is_signed) /* the bools: nothing else is one byte */
		return v == 0 || v == 1;
	if (bits >= 64)
		return true; /* strtoll / strtoull said ERANGE already */
	if (f->is_signed)
		return v >= -(1LL << (bits - 1)) && v < (1LL << (bits - 1));
	return (unsigned long long)v < (1ULL << bits);
}

static int fields_write(struct fw_buf *b, const void *base, const struct field *fs, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		long long v = get(base, &fs[i]);

		if (fs[i].is_signed)
			rc |= fw_buf_printf(b, " %s=%lld", fs[i].name, v);
		else
			rc |= fw_buf_printf(b, " %s=%llu", fs[i].name, (unsigned long long)v);
	}
	return rc | fw_buf_puts(b, "\n");
}

int fw_image_write(const struct fw_master *m, struct fw_buf *b)
{
	int rc = fw_buf_printf(b, "fw-master-image %d\n", FW_IMAGE_VERSION);

	rc |= fw_buf_printf(b, "master sb_fd=%d sb_committed=%zu nlisteners=%d nhandoffs=%zu\n",
			    m->sb_fd, m->sb_committed, m->nlisteners, m->nhandoffs);
	rc |= fw_buf_printf(b, "state_path %s\n", m->state_path);
	for (int i = 0; i < m->nlisteners; i++) {
		rc |= fw_buf_printf(b, "listener i=%d", i);
		rc |= fields_write(b, &m->listeners[i], listener_fields, NF(listener_fields));
		rc |= fw_buf_printf(b, "listener_addr %d %s\n", i, m->listeners[i].addr.text);
	}
	rc |= fw_buf_puts(b, "keep");
	rc |= fields_write(b, &m->cfg, keep_fields, NF(keep_fields));
	for (size_t i = 0; i < NF(keep_strs); i++)
		rc |= fw_buf_printf(b, "keep_str %s %s\n", keep_strs[i].name,
				    (const char *)&m->cfg + keep_strs[i].off);
	rc |= fw_buf_puts(b, "policy");
	rc |= fields_write(b, &m->pol, policy_fields, NF(policy_fields));
	for (size_t i = 0; i < m->pol.nslots; i++) {
		rc |= fw_buf_printf(b, "slot i=%zu", i);
		rc |= fields_write(b, &m->pol.slot[i], slot_fields, NF(slot_fields));
		if (m->procs[i].pid == 0)
			continue;
		rc |= fw_buf_printf(b, "proc i=%zu", i);
		rc |= fields_write(b, &m->procs[i], proc_fields, NF(proc_fields));
	}
	for (size_t i = 0; i < m->nhandoffs; i++) {
		rc |= fw_buf_puts(b, "handoff");
		rc |= fields_write(b, &m->handoffs[i], handoff_fields, NF(handoff_fields));
	}
	return rc | fw_buf_puts(b, "end\n");
}

/* ---- reading ---- */

struct reader {
	struct fw_master *m;
	char *err;
	size_t errlen;
	int line;
	int nlisteners_seen;
	size_t nhandoffs_want;
	bool listener_seen[FW_MAX_LISTENERS];
	bool addr_seen[FW_MAX_LISTENERS];
	bool ended;
};

static int fail(struct reader *r, const char *what, const char *arg)
{
	snprintf(r->err, r->errlen, "master image line %d: %s%s%s", r->line, what,
		 arg != NULL ? ": " : "", arg != NULL ? arg : "");
	return -1;
}

/* One "name=value" token; *text: the rest of the line, moved past it. 1, 0 (no more), or -1. */
static int token(struct reader *r, char **text, char **name, char **value)
{
	char *t = *text, *eq;

	while (*t == ' ')
		t++;
	if (*t == '\0')
		return 0;
	*name = t;
	t += strcspn(t, " ");
	if (*t != '\0')
		*t++ = '\0';
	*text = t;
	if ((eq = strchr(*name, '=')) == NULL || eq[1] == '\0')
		return fail(r, "not name=value", *name);
	*eq = '\0';
	*value = eq + 1;
	return 1;
}

/*
 * A decimal number for field f: strtoll for a signed field, strtoull (and
 * no sign) for an unsigned one, so that neither wraps into the other's
 * range (an unsigned 2^64-1 read into a signed field would be -1).
 */
static int parse_value(struct reader *r, const struct field *f, const char *text, long long *v)
{
	char *end;

	if (!(text[0] == '-' || (text[0] >= '0' && text[0] <= '9')))
		return fail(r, "not a number", f->name);
	errno = 0;
	if (f->is_signed)
		*v = strtoll(text, &end, 10);
	else if (text[0] == '-')
		return fail(r, "out of range", f->name);
	else
		*v = (long long)strtoull(text, &end, 10);
	if (*end != '\0')
		return fail(r, "not a number", f->name);
	if (errno == ERANGE || !in_range(f, *v))
		return fail(r, "out of range", f->name);
	return 0;
}

/* Every name=value of the line into base's fields; an unknown name is an error. */
static int fields_read(struct reader *r, char *text, void *base, const struct field *fs, size_t n)
{
	char *name, *value;
	long long v;
	int k;

	while ((k = token(r, &text, &name, &value)) == 1) {
		size_t i = 0;

		while (i < n && strcmp(fs[i].name, name) != 0)
			i++;
		if (i == n)
			return fail(r, "unknown field", name);
		if (parse_value(r, &fs[i], value, &v) != 0)
			return -1;
		put(base, &fs[i], v);
	}
	return k;
}

/* "i=N" first: the index of the record, below max. */
static int index_of(struct reader *r, char **text, size_t max)
{
	static const struct field index = {"i", 0, sizeof(uint32_t), false};
	char *name, *value;
	long long v;

	if (token(r, text, &name, &value) != 1 || strcmp(name, "i") != 0)
		return fail(r, "no index", NULL);
	if (parse_value(r, &index, value, &v) != 0)
		return -1;
	if ((unsigned long long)v >= max)
		return fail(r, "index out of range", NULL);
	return (int)v;
}

static int copy_text(struct reader *r, char *dst, size_t cap, const char *text)
{
	size_t n = strlen(text);

	if (n >= cap)
		return fail(r, "text too long", NULL);
	memcpy(dst, text, n + 1);
	return 0;
}

static int read_master(struct reader *r, char *text)
{
	struct {
		int sb_fd;
		size_t sb_committed;
		int nlisteners;
		size_t nhandoffs;
	} v = {.sb_fd = -1};
	static const struct field fs[] = {
		{"sb_fd", offsetof(__typeof__(v), sb_fd), sizeof(int), true},
		{"sb_committed", offsetof(__typeof__(v), sb_committed), sizeof(size_t), false},
		{"nlisteners", offsetof(__typeof__(v), nlisteners), sizeof(int), true},
		{"nhandoffs", offsetof(__typeof__(v), nhandoffs), sizeof(size_t), false},
	};

	if (fields_read(r, text, &v, fs, NF(fs)) != 0)
		return -1;
	if (v.sb_fd < 0 || v.nlisteners < 0 || v.nlisteners > FW_MAX_LISTENERS ||
	    v.nhandoffs > FW_HANDOFF_QUEUE || v.sb_committed > FW_MAX_SLOTS)
		return fail(r, "master: out of range", NULL);
	r->m->sb_fd = v.sb_fd;
	r->m->sb_committed = v.sb_committed;
	r->m->nlisteners = v.nlisteners;
	r->nhandoffs_want = v.nhandoffs;
	return 0;
}

static int read_listener(struct reader *r, char *text)
{
	int i = index_of(r, &text, FW_MAX_LISTENERS);

	if (i < 0)
		return -1;
	r->listener_seen[i] = true;
	return fields_read(r, text, &r->m->listeners[i], listener_fields, NF(listener_fields));
}

static int read_listener_addr(struct reader *r, char *text)
{
	char *end, err[128];
	long i = strtol(text, &end, 10);

	if (end == text || *end != ' ' || i < 0 || i >= FW_MAX_LISTENERS)
		return fail(r, "listener_addr: no index", NULL);
	if (fw_addr_parse(end + 1, &r->m->listeners[i].addr, err, sizeof(err)) != 0)
		return fail(r, "listener_addr", err);
	r->addr_seen[i] = true;
	return 0;
}

static int read_keep_str(struct reader *r, char *text)
{
	char *value = strchr(text, ' ');

	if (value == NULL)
		return fail(r, "keep_str: no value", NULL);
	*value++ = '\0';
	for (size_t i = 0; i < NF(keep_strs); i++)
		if (strcmp(keep_strs[i].name, text) == 0)
			return copy_text(r, (char *)&r->m->cfg + keep_strs[i].off, keep_strs[i].size,
					 value);
	return fail(r, "keep_str: unknown key", text);
}

static int read_slot(struct reader *r, char *text)
{
	int i = index_of(r, &text, FW_MAX_SLOTS);

	return i < 0 ? -1 : fields_read(r, text, &r->m->pol.slot[i], slot_fields, NF(slot_fields));
}

static int read_proc(struct reader *r, char *text)
{
	int i = index_of(r, &text, FW_MAX_SLOTS);

	return i < 0 ? -1 : fields_read(r, text, &r->m->procs[i], proc_fields, NF(proc_fields));
}

static int read_handoff(struct reader *r, char *text)
{
	struct fw_master *m = r->m;

	if (m->nhandoffs >= r->nhandoffs_want)
		return fail(r, "more handoffs than said", NULL);
	m->handoffs[m->nhandoffs] = (struct fw_handoff){.fd = -1};
	if (fields_read(r, text, &m->handoffs[m->nhandoffs], handoff_fields, NF(handoff_fields)) != 0)
		return -1;
	if (m->handoffs[m->nhandoffs].fd < 0)
		return fail(r, "handoff without a descriptor", NULL);
	m->nhandoffs++;
	return 0;
}

static int read_line(struct reader *r, char *line)
{
	char *rest = line + strcspn(line, " ");

	if (*rest != '\0')
		*rest++ = '\0';
	if (r->ended)
		return fail(r, "after end", NULL);
	if (strcmp(line, "master") == 0)
		return read_master(r, rest);
	if (strcmp(line, "state_path") == 0)
		return copy_text(r, r->m->state_path, sizeof(r->m->state_path), rest);
	if (strcmp(line, "listener") == 0)
		return read_listener(r, rest);
	if (strcmp(line, "listener_addr") == 0)
		return read_listener_addr(r, rest);
	if (strcmp(line, "keep") == 0)
		return fields_read(r, rest, &r->m->cfg, keep_fields, NF(keep_fields));
	if (strcmp(line, "keep_str") == 0)
		return read_keep_str(r, rest);
	if (strcmp(line, "policy") == 0)
		return fields_read(r, rest, &r->m->pol, policy_fields, NF(policy_fields));
	if (strcmp(line, "slot") == 0)
		return read_slot(r, rest);
	if (strcmp(line, "proc") == 0)
		return read_proc(r, rest);
	if (strcmp(line, "handoff") == 0)
		return read_handoff(r, rest);
	if (strcmp(line, "end") == 0 && *rest == '\0') {
		r->ended = true;
		return 0;
	}
	return fail(r, "unknown record", line);
}

/* -1 (none), or a slot of the table. */
static bool slot_or_none(const struct fw_master *m, int slot)
{
	return slot == -1 || (slot >= 0 && (size_t)slot < m->pol.nslots);
}

/* What the lines must have said, together. */
static int check(struct reader *r)
{
	const struct fw_master *m = r->m;

	if (!r->ended)
		return fail(r, "cut short (no end)", NULL);
	if (m->sb_fd < 0 || m->state_path[0] == '\0')
		return fail(r, "no scoreboard", NULL);
	if (m->pol.nslots > FW_MAX_SLOTS || m->nhandoffs != r->nhandoffs_want ||
	    (unsigned)m->pol.mode > FW_QUITTING || (unsigned)m->pol.upgrade > FW_UPGRADE_ROLLING)
		return fail(r, "policy out of range", NULL);
	/* The policy indexes its slots with these: one out of range would read past the table. */
	if (!slot_or_none(m, m->pol.cgroup_victim))
		return fail(r, "policy: cgroup_victim is not a slot", NULL);
	if (!slot_or_none(m, m->pol.canary))
		return fail(r, "policy: canary is not a slot", NULL);
	for (size_t i = 0; i < m->pol.nslots; i++)
		if ((unsigned)m->pol.slot[i].state > FW_W_STOPPING ||
		    (unsigned)m->pol.slot[i].retire >= FW_RETIRE_NREASONS ||
		    !slot_or_none(m, m->pol.slot[i].replaces))
			return fail(r, "slot out of range", NULL);
	for (int i = 0; i < m->nlisteners; i++)
		if (!r->listener_seen[i] || !r->addr_seen[i] || m->listeners[i].fd < 0)
			return fail(r, "a listener is missing", NULL);
	for (size_t i = 0; i < FW_MAX_SLOTS; i++) {
		const struct fw_proc *p = &m->procs[i];

		if ((p->pid != 0) != (i < m->pol.nslots && m->pol.slot[i].state != FW_W_FREE))
			return fail(r, "a worker's process and its slot disagree", NULL);
		if (p->pid != 0 && (p->pid < 0 || p->chan < 0))
			return fail(r, "a worker without a channel", NULL);
	}
	return 0;
}

int fw_image_read(struct fw_master *m, const char *text, size_t len, char *err, size_t errlen)
{
	struct reader r = {.m = m, .err = err, .errlen = errlen};
	char *copy = malloc(len + 1), *line, *next, head[32];
	int rc = 0;

	if (copy == NULL) {
		snprintf(err, errlen, "master image: out of memory");
		return -1;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	snprintf(head, sizeof(head), "fw-master-image %d\n", FW_IMAGE_VERSION);
	if (strlen(copy) != len || strncmp(copy, head, strlen(head)) != 0) {
		snprintf(err, errlen, "master image: not a master image of version %d",
			 FW_IMAGE_VERSION);
		free(copy);
		return -1;
	}
	m->sb_fd = -1;
	m->nhandoffs = 0;
	line = copy + strlen(head);
	for (r.line = 2; rc == 0 && *line != '\0'; r.line++, line = next) {
		if ((next = strchr(line, '\n')) == NULL) {
			rc = fail(&r, "no newline", NULL);
			break;
		}
		*next++ = '\0';
		rc = read_line(&r, line);
	}
	free(copy);
	return rc != 0 ? -1 : check(&r);
}
