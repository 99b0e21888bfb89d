/* A name-value pair pointing into protocol-owned memory (CGI params). */
#ifndef FW_CORE_NV_H
#define FW_CORE_NV_H

#include <stdint.h>

struct fw_nv {
	const char *name;  /* NUL-terminated */
	const char *value; /* NUL-terminated; may hold earlier NULs (value_len counts all) */
	uint32_t name_len;
	uint32_t value_len;
};

#endif
