#include "ipc/scoreboard.h"

#include <sys/mman.h>

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
