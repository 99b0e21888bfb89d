/* ipc/: messages with descriptors over the channel; the scoreboard's request record. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ipc/chan.h"
#include "ipc/scoreboard.h"

/* Two descriptors name the same open file if fstat agrees. */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static void test_message(void)
{
	int ch[2];
	struct fw_msg out = {.type = FW_MSG_RETIRE, .arg = 2, .value = 12345, .value2 = 1}, in;
	int fd;

	if (!CHECK_EQ_INT(fw_chan_pair(ch), 0))
		return;
	CHECK_EQ_INT(fw_chan_send(ch[1], &out, -1), 0);
	CHECK_EQ_INT(fw_chan_recv(ch[0], &in, &fd), 1);
	CHECK_EQ_UINT(in.type, FW_MSG_RETIRE);
	CHECK_EQ_UINT(in.arg, 2);
	CHECK_EQ_UINT(in.value, 12345);
	CHECK_EQ_UINT(in.value2, 1);
	CHECK_EQ_INT(fd, -1);
	/* Nothing more: EAGAIN, never a block. */
	CHECK_EQ_INT(fw_chan_recv(ch[0], &in, NULL), -1);
	CHECK_EQ_INT(errno, EAGAIN);
	/* A message of the wrong size is refused with EBADMSG. */
	char junk[3] = {1, 2, 3};
	CHECK_EQ_INT((int)send(ch[1], junk, sizeof(junk), 0), 3);
	CHECK_EQ_INT(fw_chan_recv(ch[0], &in, NULL), -1);
	CHECK_EQ_INT(errno, EBADMSG);
	/* The peer gone: 0. */
	close(ch[1]);
	CHECK_EQ_INT(fw_chan_recv(ch[0], &in, NULL), 0);
	close(ch[0]);
}

static void test_descriptors(void)
{
	int ch[2], files[FW_CHAN_MAX_FDS], got[FW_CHAN_MAX_FDS], n = -1;
	struct fw_msg out = {.type = FW_MSG_HANDOFF, .arg = FW_CHAN_MAX_FDS}, in;

	if (!CHECK_EQ_INT(fw_chan_pair(ch), 0))
		return;
	for (int i = 0; i < FW_CHAN_MAX_FDS; i++)
		files[i] = open(i % 2 ? "/dev/null" : "/dev/zero", O_RDONLY | O_CLOEXEC);
	CHECK_EQ_INT(fw_chan_sendv(ch[1], &out, files, FW_CHAN_MAX_FDS), 0);
	CHECK_EQ_INT(fw_chan_recvv(ch[0], &in, got, &n), 1);
	CHECK_EQ_INT(n, FW_CHAN_MAX_FDS);
	for (int i = 0; i < n && i < FW_CHAN_MAX_FDS; i++) {
		CHECK(got[i] != files[i]);
		CHECK(same_file(got[i], files[i]));
		CHECK((fcntl(got[i], F_GETFD) & FD_CLOEXEC) != 0);
		close(got[i]);
	}
	/* Too many at once is refused before anything is sent. */
	CHECK_EQ_INT(fw_chan_sendv(ch[1], &out, files, FW_CHAN_MAX_FDS + 1), -1);
	/* One descriptor, received without asking for descriptors: closed, not leaked. */
	int before = open("/dev/null", O_RDONLY);
	close(before);
	CHECK_EQ_INT(fw_chan_send(ch[1], &out, files[0]), 0);
	CHECK_EQ_INT(fw_chan_recv(ch[0], &in, NULL), 1);
	int after = open("/dev/null", O_RDONLY);
	CHECK_EQ_INT(after, before);
	close(after);
	for (int i = 0; i < FW_CHAN_MAX_FDS; i++)
		close(files[i]);
	close(ch[0]);
	close(ch[1]);
}

static void on_segv(int sig)
{
	(void)sig;
	_exit(3);
}

static void test_slot_request(void)
{
	char path[64];
	struct fw_scoreboard *sb;
	const struct fw_scoreboard *ro;
	int sb_fd = -1;

	snprintf(path, sizeof(path), "/tmp/fw-test-ipc-%ld.state", (long)getpid());
	sb = fw_scoreboard_create(path, 4, 4, &sb_fd);
	struct fw_slot_request in, out;
	char long_path[300];

	if (!CHECK(sb != NULL))
		return;
	CHECK_EQ_UINT(sb->nslots, 4);
	snprintf(in.method, sizeof(in.method), "PATCH");
	memset(long_path, 'p', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	memcpy(in.path, long_path, sizeof(in.path) - 1);
	in.path[sizeof(in.path) - 1] = '\0';
	fw_slot_request_begin(&sb->slots[3], &in, 1234);
	CHECK_EQ_UINT(fw_slot_load(sb->slots[3].handler_ms), 1234);
	CHECK(fw_slot_request_read(&sb->slots[3], &out));
	CHECK_EQ_STR(out.method, "PATCH");
	CHECK_EQ_UINT(strlen(out.path), FW_SLOT_PATH_LEN - 1); /* cut, terminated */
	CHECK_EQ_UINT(fw_slot_load(sb->slots[3].seq) % 2, 0);
	fw_slot_request_end(&sb->slots[3]);
	CHECK_EQ_UINT(fw_slot_load(sb->slots[3].handler_ms), 0);
	/* The record survives into a forked child: the mapping is shared. */
	pid_t pid = fork();
	if (pid == 0) {
		fw_slot_store(sb->slots[1].requests, (uint64_t)99);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	CHECK_EQ_UINT(fw_slot_load(sb->slots[1].requests), 99);
	CHECK_EQ_STR(fw_retire_reason_name(FW_RETIRE_MEMORY), "memory");
	CHECK_EQ_STR(fw_worker_mode_name(FW_WORKER_DRAINING), "draining");
	/* Another process (a probe) maps the same file read-only and sees it. */
	ro = fw_scoreboard_open(path, NULL);
	if (CHECK(ro != NULL)) {
		CHECK_EQ_UINT(ro->nslots, 4);
		CHECK_EQ_UINT(fw_slot_load(ro->slots[1].requests), 99);
		fw_scoreboard_destroy(ro, NULL);
	}
	/* The histogram: 0.5 ms in the first bucket, 3 ms in the third, 20 s in +Inf. */
	fw_slot_observe(&sb->slots[0], 500);
	fw_slot_observe(&sb->slots[0], 3000);
	fw_slot_observe(&sb->slots[0], 20000000);
	CHECK_EQ_UINT(sb->slots[0].hist[0], 1);
	CHECK_EQ_UINT(sb->slots[0].hist[2], 1);
	CHECK_EQ_UINT(sb->slots[0].hist[FW_HIST_BUCKETS - 1], 1);
	CHECK_EQ_UINT(sb->slots[0].hist_sum_us, 20003500);
	/* A worker's mapping: its own slot writable, the rest not (the write faults). */
	if ((pid = fork()) == 0) {
		signal(SIGSEGV, on_segv);
		if (fw_scoreboard_protect(sb, &sb->slots[1]) != 0)
			_exit(2);
		fw_slot_store(sb->slots[1].requests, 7);
		fw_slot_store(sb->slots[2].requests, 7);
		_exit(0); /* not reached */
	}
	if (CHECK(pid > 0)) {
		int st = 0;

		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
		CHECK_EQ_UINT(fw_slot_load(sb->slots[1].requests), 7);
		CHECK_EQ_UINT(fw_slot_load(sb->slots[2].requests), 0);
	}
	CHECK_EQ_INT(fw_scoreboard_commit(sb_fd, 4), 0);
	close(sb_fd);
	fw_scoreboard_destroy(sb, path);
	CHECK(access(path, F_OK) != 0);
	/* Not a scoreboard: refused. */
	CHECK(fw_scoreboard_open("/etc/hostname", NULL) == NULL);
	CHECK(fw_scoreboard_open("/nonexistent", NULL) == NULL);
	/* A FIFO planted there: refused at once, not waited on. */
	CHECK_EQ_INT(mkfifo(path, 0600), 0);
	CHECK(fw_scoreboard_open(path, NULL) == NULL);
	CHECK_EQ_INT(errno, EPROTO);
	unlink(path);
	/* Nor through a symbolic link. */
	CHECK_EQ_INT(symlink("/etc/hostname", path), 0);
	CHECK(fw_scoreboard_open(path, NULL) == NULL);
	unlink(path);
}

int main(void)
{
	test_message();
	test_descriptors();
	test_slot_request();
	return check_done();
}
