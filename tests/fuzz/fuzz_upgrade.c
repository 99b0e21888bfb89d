/*
 * What a live upgrade hands to the next image: ipc/boot_env.c (a canary's
 * boot variable) and master/image.c (the master's table).
 *
 * Input: a first byte, then the text. Even: a boot variable (up to its
 * first NUL, as the environment holds it); odd: a master image.
 * - Whatever is accepted is within bounds (slots, listeners, descriptors,
 *   the policy's slot indices),
 *   and written again, reads back as the same thing: the writer and the
 *   reader agree on every field.
 * - Nothing is read past the input, whatever it holds.
 */
#include "fuzz.h"

#include "core/buf.h"
#include "ipc/boot.h"
#include "master/master.h"

static void boot_env(const char *text)
{
	struct fw_boot_env e, back;
	char err[160], again[1024];

	if (fw_boot_env_parse(text, &e, err, sizeof(err)) != 0) {
		FZ_CHECK(err[0] != '\0');
		return;
	}
	FZ_CHECK(e.nlisten >= 1 && e.nlisten <= FW_MAX_LISTENERS);
	FZ_CHECK(e.slot_index >= 0 && e.slot_index < FW_MAX_SLOTS && e.peer_in >= -1);
	FZ_CHECK(fw_boot_env_format(&e, again, sizeof(again)) == 0);
	FZ_CHECK(fw_boot_env_parse(again, &back, err, sizeof(err)) == 0);
	FZ_CHECK(memcmp(&e, &back, sizeof(e)) == 0);
}

static void fresh(struct fw_master *m)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < FW_MAX_SLOTS; i++)
		m->procs[i] = (struct fw_proc){.chan = -1, .chan_worker = -1, .peer = -1};
	fw_policy_init(&m->pol, 2, 1, 60, 30, 100);
}

static void image(const char *text, size_t len)
{
	static struct fw_master m, back;
	struct fw_buf out = FW_BUF_INIT, again = FW_BUF_INIT;
	char err[256];

	fresh(&m);
	if (fw_image_read(&m, text, len, err, sizeof(err)) != 0) {
		FZ_CHECK(err[0] != '\0');
		return;
	}
	FZ_CHECK(m.pol.nslots <= FW_MAX_SLOTS && m.nlisteners <= FW_MAX_LISTENERS);
	FZ_CHECK(m.nhandoffs <= FW_HANDOFF_QUEUE && m.sb_fd >= 0);
	/* The policy indexes its slots with these. */
	FZ_CHECK(m.pol.canary >= -1 && m.pol.canary < (int)m.pol.nslots);
	FZ_CHECK(m.pol.cgroup_victim >= -1 && m.pol.cgroup_victim < (int)m.pol.nslots);
	for (size_t i = 0; i < m.pol.nslots; i++)
		FZ_CHECK(m.pol.slot[i].replaces >= -1 && m.pol.slot[i].replaces < (int)m.pol.nslots);
	FZ_CHECK(fw_image_write(&m, &out) == 0);
	fresh(&back);
	FZ_CHECK(fw_image_read(&back, out.data, out.len, err, sizeof(err)) == 0);
	FZ_CHECK(fw_image_write(&back, &again) == 0);
	FZ_CHECK(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
	fw_buf_release(&out);
	fw_buf_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1)
		return 0;
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1)
		image(text, size - 1);
	else
		boot_env(text);
	free(text);
	return 0;
}
