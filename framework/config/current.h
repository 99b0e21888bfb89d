/*
 * The configuration a worker runs with, for the optional modules that sit
 * beside worker/ (framework/pg) and take their settings from it without
 * reaching into the worker. NULL in the master, which never runs them.
 */
#ifndef FW_CONFIG_CURRENT_H
#define FW_CONFIG_CURRENT_H

#include "config/config.h"

/* Set once by a worker at boot; c must live as long as the worker. */
void fw_config_set_current(const struct fw_config *c);

/* The worker's configuration, or NULL outside a worker. */
const struct fw_config *fw_config_current(void);

#endif
