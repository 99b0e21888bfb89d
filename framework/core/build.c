/* The build identity (build.h). */
#include "core/build.h"

#include <elf.h>
#include <fw/app.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char build_id[FW_BUILD_ID_LEN];
static char version[FW_VERSION_LEN];

int fw_build_id_from_notes(const unsigned char *notes, size_t len, size_t align, char *out, size_t cap)
{
	size_t off = 0;

	if (align != 8)
		align = 4;
		/* Offsets from a note's start (its header included) are rounded up to align (gABI). */
#define NOTE_ALIGN(n) (((n) + align - 1) & ~(align - 1))
	while (off <= len && len - off >= sizeof(ElfW(Nhdr))) {
		ElfW(Nhdr) nh;
		size_t left = len - off, desc_off;

		memcpy(&nh, notes + off, sizeof(nh));
		if (nh.n_namesz > left - sizeof(nh))
			return -1;
		desc_off = NOTE_ALIGN(sizeof(nh) + nh.n_namesz);
		if (desc_off > left || nh.n_descsz > left - desc_off)
			return -1;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp(notes + off + sizeof(nh), "GNU", 4) == 0 && nh.n_descsz > 0 &&
		    nh.n_descsz * 2 + 1 <= cap) {
			for (size_t i = 0; i < nh.n_descsz; i++)
				snprintf(out + 2 * i, cap - 2 * i, "%02x", notes[off + desc_off + i]);
			return 0;
		}
		off += NOTE_ALIGN(desc_off + nh.n_descsz);
	}
#undef NOTE_ALIGN
	return -1;
}

/* The main program is the first object the dynamic linker lists. */
static int from_headers(struct dl_phdr_info *info, size_t size, void *data)
{
	char *hex = data;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_NOTE &&
		    fw_build_id_from_notes((const unsigned char *)(info->dlpi_addr + ph->p_vaddr),
					   ph->p_memsz, ph->p_align, hex, FW_BUILD_ID_LEN - 9) == 0)
			break;
	}
	return 1; /* only the first */
}

const char *fw_build_id(void)
{
	char hex[FW_BUILD_ID_LEN] = "";
	struct stat st;

	if (build_id[0] != '\0')
		return build_id;
	dl_iterate_phdr(from_headers, hex);
	if (hex[0] != '\0')
		snprintf(build_id, sizeof(build_id), "build-id:%s", hex);
	else if (stat("/proc/self/exe", &st) == 0)
		snprintf(build_id, sizeof(build_id), "file:%lld-%lld", (long long)st.st_mtime,
			 (long long)st.st_size);
	else
		snprintf(build_id, sizeof(build_id), "unknown");
	return build_id;
}

const char *fw_build_version(void)
{
	return version;
}

FW_API void fw_set_version(const char *v)
{
	/* Printable ASCII only: it goes into log lines, JSON and Prometheus labels as is. */
	size_t n = 0;

	for (; v != NULL && v[n] != '\0' && n + 1 < sizeof(version); n++)
		version[n] = (v[n] > ' ' && v[n] < 0x7f && v[n] != '"' && v[n] != '\\') ? v[n] : '_';
	version[n] = '\0';
}
