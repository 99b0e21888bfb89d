/*
 * Which build of the program this process runs, for the status page and
 * the upgrade's log lines: the ELF build-id the linker put in the
 * executable (gcc and clang on Debian ask ld for one), else the file's
 * modification time and size. Two builds of the same sources differ in
 * neither of the latter only when the file was copied with its times.
 */
#ifndef FW_CORE_BUILD_H
#define FW_CORE_BUILD_H

#include <stddef.h>

#define FW_BUILD_ID_LEN 64 /* "build-id:" + 40 hex digits (ld's sha1) + NUL, or "file:MTIME-SIZE" */
#define FW_VERSION_LEN 32  /* fw_set_version()'s string, truncated to fit */

/*
 * The executable's identity, computed on the first call (the program's
 * own headers in memory, or a stat of /proc/self/exe): "build-id:<hex>"
 * or "file:<mtime>-<size>", "unknown" when neither can be read. The
 * string is static: it lives as long as the process.
 */
const char *fw_build_id(void);

/* The application's version (fw_set_version()), "" when it set none. Static. */
const char *fw_build_version(void);

/*
 * The ELF build-id note in a run of note bytes (a PT_NOTE segment, whose
 * notes are padded to `align`: 4, or 8 for .note.gnu.property's): its hex
 * digits into out (cap bytes, NUL-terminated). 0, or -1 when there is
 * none. Pure: tested on made-up notes.
 */
int fw_build_id_from_notes(const unsigned char *notes, size_t len, size_t align, char *out, size_t cap);

#endif
