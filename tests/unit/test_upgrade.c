/*
 * What a live upgrade hands from one image to the next, without
 * processes: the canary's boot variable (ipc/boot_env.c), the master's
 * table (master/image.c), and the build-id read from ELF notes
 * (core/build.c).
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/build.h"
#include "ipc/boot.h"
#include "master/master.h"

static void test_boot_env(void)
{
	struct fw_boot_env e = {
		.chan_fd = 5,
		.peer_in = -1,
		.slot_index = 3,
		.sb_fd = 9,
		.master_pid = 1234,
		.image_version = 1,
		.nlisten = 2,
		.listen = {{.fd = 3, .proto = FW_PROTO_FASTCGI},
			   {.fd = 4, .proto = FW_PROTO_SCGI, .inet = true, .status = true}}};
	struct fw_boot_env back;
	char text[256], err[128];

	CHECK_EQ_INT(fw_boot_env_format(&e, text, sizeof(text)), 0);
	CHECK_EQ_STR(text, "1 chan=5 peer=-1 slot=3 sb=9 master=1234 image=1 listen=3:0:0:0,4:1:1:1");
	CHECK_EQ_INT(fw_boot_env_parse(text, &back, err, sizeof(err)), 0);
	CHECK(back.chan_fd == 5 && back.peer_in == -1 && back.slot_index == 3 && back.sb_fd == 9 &&
	      back.master_pid == 1234 && back.image_version == 1 && back.nlisten == 2);
	CHECK(back.listen[0].fd == 3 && back.listen[0].proto == FW_PROTO_FASTCGI &&
	      !back.listen[0].inet && !back.listen[0].status);
	CHECK(back.listen[1].fd == 4 && back.listen[1].proto == FW_PROTO_SCGI && back.listen[1].inet &&
	      back.listen[1].status);
	CHECK_EQ_INT(fw_boot_env_format(&e, text, 20), -1); /* does not fit */

	static const char *const bad[] = {
		"",
		"2 chan=5 peer=-1 slot=3 sb=9 master=1234 image=1 listen=3:0:0:0", /* version */
		"1 chan=5 peer=-2 slot=3 sb=9 master=1234 image=1 listen=3:0:0:0", /* peer < -1 */
		"1 chan=5 peer=-1 slot=1024 sb=9 master=1 image=1 listen=3:0:0:0", /* slot */
		"1 chan=5 peer=-1 slot=3 sb=9 master=0 image=1 listen=3:0:0:0",    /* no master */
		"1 chan=5 peer=-1 slot=3 sb=9 master=1234 image=1 listen=",        /* no listener */
		"1 chan=5 peer=-1 slot=3 sb=9 master=1234 image=1 listen=3:2:0:0", /* protocol */
		"1 chan=5 peer=-1 slot=3 sb=9 master=1234 image=1 listen=3:0:0",   /* cut */
		"1 chan=5 slot=3 peer=-1 sb=9 master=1234 image=1 listen=3:0:0:0", /* order */
		"1 chan=x peer=-1 slot=3 sb=9 master=1234 image=1 listen=3:0:0:0", /* number */
		"1 chan=99999999999 peer=-1 slot=3 sb=9 master=1 image=1 listen=3:0:0:0",
		/* more listeners than there can be */
		("1 chan=5 peer=-1 slot=3 sb=9 master=1234 image=1 listen=1:0:0:0,2:0:0:0,3:0:0:0,"
		 "4:0:0:0,5:0:0:0,6:0:0:0,7:0:0:0,8:0:0:0,9:0:0:0"),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!CHECK_EQ_INT(fw_boot_env_parse(bad[i], &back, err, sizeof(err)), -1))
			fprintf(stderr, "  accepted: %s\n", bad[i]);
}

/* A table as a master would have it mid-upgrade: a canary, a drain, a handoff. */
static void table(struct fw_master *m)
{
	char err[128];

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < FW_MAX_SLOTS; i++)
		m->procs[i] = (struct fw_proc){.chan = -1, .chan_worker = -1, .peer = -1};
	fw_policy_init(&m->pol, 2, 1, 60, 30, 100);
	m->sb_fd = 4;
	m->sb_committed = 3;
	snprintf(m->state_path, sizeof(m->state_path), "/dev/shm/fw-0/fw-x y.sb");
	m->nlisteners = 2;
	m->listeners[0] = (struct fw_socket){
		.fd = 3, .proto = FW_PROTO_FASTCGI, .dev = 7, .ino = (ino_t)1 << 40};
	CHECK_EQ_INT(fw_addr_parse("/run/my app.sock", &m->listeners[0].addr, err, sizeof(err)), 0);
	m->listeners[1] = (struct fw_socket){.fd = 5, .proto = FW_PROTO_SCGI, .status = true};
	CHECK_EQ_INT(fw_addr_parse("127.0.0.1:9001", &m->listeners[1].addr, err, sizeof(err)), 0);
	m->cfg.socket_mode = 0660;
	m->cfg.backlog = 511;
	snprintf(m->cfg.user, sizeof(m->cfg.user), "www-data");
	snprintf(m->cfg.state_path, sizeof(m->cfg.state_path), "/run/fw.sb");
	m->pol.nslots = 3;
	m->pol.announced = true;
	m->pol.upgrade = FW_UPGRADE_EXEC;
	m->pol.canary = 2;
	m->pol.canary_gen = 4;
	m->pol.spawn_after_ms = 123456789012ULL;
	m->pol.slot[0] = (struct fw_pslot){.state = FW_W_DRAINING,
					   .gen = 3,
					   .spawned_ms = 1000,
					   .retire = FW_RETIRE_UPGRADE,
					   .replaces = -1,
					   .stuck_since = 77};
	m->pol.slot[1] = (struct fw_pslot){.state = FW_W_FREE, .gen = 9, .replaces = -1};
	m->pol.slot[2] = (struct fw_pslot){
		.state = FW_W_SERVING, .gen = 4, .replaces = -1, .exec = true, .timed_out = true};
	m->procs[0] = (struct fw_proc){.pid = 100, .chan = 10, .chan_worker = 11, .peer = -1};
	m->procs[2] = (struct fw_proc){.pid = 102, .chan = 12, .chan_worker = 13, .peer = 14};
	m->nhandoffs = 2;
	m->handoffs[0] = (struct fw_handoff){.fd = 20, .kind = FW_CONN_SCGI};
	m->handoffs[1] = (struct fw_handoff){.fd = 21, .kind = 0};
}

static void test_image(void)
{
	static struct fw_master m, back;
	fw_buf text = FW_BUF_INIT, again = FW_BUF_INIT;
	char err[200];

	table(&m);
	CHECK_EQ_INT(fw_image_write(&m, &text), 0);
	memset(&back, 0, sizeof(back));
	for (size_t i = 0; i < FW_MAX_SLOTS; i++)
		back.procs[i] = (struct fw_proc){.chan = -1, .chan_worker = -1, .peer = -1};
	fw_policy_init(&back.pol, 2, 1, 60, 30, 100);
	if (!CHECK_EQ_INT(fw_image_read(&back, text.data, text.len, err, sizeof(err)), 0))
		fprintf(stderr, "  %s\n", err);
	/*
	 * The process table byte for byte (no padding in it); the policy
	 * field by field, by its text written again below (the sizes in
	 * image.c stop a field added to it without a line in the table).
	 */
	CHECK(memcmp(back.procs, m.procs, sizeof(m.procs)) == 0);
	CHECK(back.pol.upgrade == FW_UPGRADE_EXEC && back.pol.canary == 2 && back.pol.nslots == 3);
	CHECK(back.pol.slot[2].exec && back.pol.slot[2].timed_out && back.pol.slot[0].stuck_since == 77);
	CHECK_EQ_UINT(back.pol.spawn_after_ms, 123456789012ULL);
	CHECK(memcmp(back.handoffs, m.handoffs, 2 * sizeof(m.handoffs[0])) == 0);
	CHECK_EQ_UINT(back.nhandoffs, 2);
	CHECK_EQ_INT(back.sb_fd, 4);
	CHECK_EQ_UINT(back.sb_committed, 3);
	CHECK_EQ_STR(back.state_path, m.state_path);
	CHECK_EQ_INT(back.nlisteners, 2);
	CHECK_EQ_STR(back.listeners[0].addr.text, "/run/my app.sock");
	CHECK_EQ_STR(back.listeners[1].addr.text, "127.0.0.1:9001");
	CHECK_EQ_UINT(back.listeners[0].ino, 1ULL << 40);
	CHECK(back.listeners[1].status && back.listeners[1].proto == FW_PROTO_SCGI);
	CHECK_EQ_INT(back.cfg.socket_mode, 0660);
	CHECK_EQ_STR(back.cfg.user, "www-data");
	CHECK_EQ_STR(back.cfg.state_path, "/run/fw.sb");
	/* Written again, the same text. */
	CHECK_EQ_INT(fw_image_write(&back, &again), 0);
	CHECK_EQ_STR(again.data, text.data);
	fw_buf_release(&again);

	/* Refused: each of these, made from the good text. */
	static const struct {
		const char *from, *to;
	} bad[] = {
		{"fw-master-image 1", "fw-master-image 2"},
		{"end\n", ""},
		{"policy mode=0", "policy mode=0 surprise=1"},
		{"slot i=2", "slot i=1024"},
		{"exec=1", "exec=2"},
		{"proc i=2 pid=102", "proc i=1 pid=102"}, /* a process in a free slot */
		{"handoff fd=21", "handoff fd=-1"},
		{"nhandoffs=2", "nhandoffs=3"},
		{"sb_fd=4", "sb_fd=-4"},
		{"listener_addr 1 127.0.0.1:9001", "listener_addr 1 127.0.0.1:99999"},
		{"keep_str user www-data", "keep_str shell /bin/sh"},
		{"state=5", "state=60"},
		{"policy mode=0", "policy mode=9"},
		{"canary_gen=4", "canary_gen=4x"},
		{"gen=9", "gen=-9"},
		{"\nend\n", "\nend\nslot i=0\n"},
		/* Indices the policy reads its table with: -1 or a slot below nslots (3). */
		{"cgroup_victim=-1", "cgroup_victim=3"},
		{"cgroup_victim=-1", "cgroup_victim=-2"},
		{"canary=2", "canary=3"},
		{"canary=2", "canary=-7"},
		{"replaces=-1", "replaces=-2"},
		{"replaces=-1", "replaces=3"},
		/* Signed fields do not wrap: 2^64 - 1 is not -1, 2^64 - 2 not -2. */
		{"cgroup_victim=-1", "cgroup_victim=18446744073709551615"},
		{"canary=2", "canary=18446744073709551615"},
		{"peer=14", "peer=18446744073709551614"},
		{"exit_status=0", "exit_status=18446744073709551615"},
		{"sb_fd=4", "sb_fd=18446744073709551620"},
		{"boot_failures=0", "boot_failures=-9223372036854775809"},
		/* Unsigned fields take no sign. */
		{"gen=9", "gen=-0"},
		{"i=2", "i=-0"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *copy = malloc(text.len + 64), *at = strstr(text.data, bad[i].from);

		if (!CHECK(copy != NULL && at != NULL)) {
			fprintf(stderr, "  no '%s' in the image\n", bad[i].from);
			free(copy);
			continue;
		}
		snprintf(copy, text.len + 64, "%.*s%s%s", (int)(at - text.data), text.data, bad[i].to,
			 at + strlen(bad[i].from));
		table(&back);
		if (!CHECK_EQ_INT(fw_image_read(&back, copy, strlen(copy), err, sizeof(err)), -1))
			fprintf(stderr, "  accepted with '%s'\n", bad[i].to);
		free(copy);
	}
	/* A NUL inside is not a shorter image. */
	CHECK_EQ_INT(fw_image_read(&back, text.data, text.len + 1, err, sizeof(err)), -1);
	fw_buf_release(&text);
}

/* Notes as ld writes them: a property note (8-aligned segments), then the build-id. */
static void test_build_id(void)
{
	unsigned char notes[128] = {0};
	Elf64_Nhdr nh = {.n_namesz = 4, .n_descsz = 3, .n_type = NT_GNU_BUILD_ID};
	char hex[64];
	size_t at = 0;

	memcpy(notes + at, &(Elf64_Nhdr){.n_namesz = 4, .n_descsz = 2, .n_type = 5}, sizeof(nh));
	memcpy(notes + at + sizeof(nh), "GNU", 4);
	at += 24; /* 12 + 4 + 2, padded to 8 from the note's start (20 when padded to 4) */
	memcpy(notes + at, &nh, sizeof(nh));
	memcpy(notes + at + sizeof(nh), "GNU", 4);
	memcpy(notes + at + sizeof(nh) + 4, "\x01\xab\xff", 3);
	CHECK_EQ_INT(fw_build_id_from_notes(notes, at + sizeof(nh) + 8, 8, hex, sizeof(hex)), 0);
	CHECK_EQ_STR(hex, "01abff");
	/* Read with 4-byte padding, the build-id is not where it is. */
	CHECK_EQ_INT(fw_build_id_from_notes(notes, at + sizeof(nh) + 8, 4, hex, sizeof(hex)), -1);
	CHECK_EQ_INT(fw_build_id_from_notes(notes, at + sizeof(nh) + 8, 8, hex, 6), -1); /* room */
	CHECK_EQ_INT(fw_build_id_from_notes(notes, at + sizeof(nh) + 2, 8, hex, sizeof(hex)), -1);
	/* This very program has one (Debian's compilers ask ld for it). */
	CHECK(strncmp(fw_build_id(), "build-id:", 9) == 0);
	CHECK_EQ_UINT(strlen(fw_build_id()), 9 + 40);
}

int main(void)
{
	test_boot_env();
	test_image();
	test_build_id();
	return check_done();
}
