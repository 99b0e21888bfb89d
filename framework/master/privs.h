/* Dropping root: `user` and `group`, after the sockets are open and before any worker is forked. */
#ifndef FW_MASTER_PRIVS_H
#define FW_MASTER_PRIVS_H

#include "config/config.h"

/*
 * As root with `user` set: hand the scoreboard file to the user, then
 * become that user and group (with the user's supplementary groups), for
 * good. Not root: a warning if `user` is set. 0, or -1 after logging.
 */
int fw_privs_drop(const struct fw_config *cfg, const char *state_path);

#endif
