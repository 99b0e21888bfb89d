#include "config/current.h"

static const struct fw_config *current;

void fw_config_set_current(const struct fw_config *c)
{
	current = c;
}

const struct fw_config *fw_config_current(void)
{
	return current;
}
