/*
 * The [app] section: the application's own settings, any name, read by
 * fw_setting(). They live inside struct fw_config as "name\0value\0"
 * pairs in a fixed array, so that the struct can be copied by value (the
 * master's copy, a reload's replacement) with nothing to free or share.
 */
#ifndef FW_CONFIG_APP_SETTINGS_H
#define FW_CONFIG_APP_SETTINGS_H

#include <stddef.h>

#include "core/buf.h"

#define FW_APP_SETTINGS_MAX (32 * 1024) /* names and values, with their NULs */

struct fw_app_settings {
	size_t len;
	char data[FW_APP_SETTINGS_MAX];
};

/*
 * Add name = value from the file. 0, or -1 with err: the name is set
 * already, it is not [A-Za-z0-9_.-]+, or the section is full.
 */
int fw_app_settings_add(struct fw_app_settings *s, const char *name, const char *value, char *err,
			size_t errlen);

/*
 * FW_APP_<NAME> variables of the environment over the file: each replaces
 * the setting whose name maps to it (upper case, '.' and '-' as '_'), or
 * adds one named in lower case. 0, or -1 with lines appended to errors.
 */
int fw_app_settings_env(struct fw_app_settings *s, struct fw_buf *errors);

/* The value of name (any case; ".", "-" and "_" alike, as in the environment), or NULL. */
const char *fw_app_settings_get(const struct fw_app_settings *s, const char *name);

#endif
