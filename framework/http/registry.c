#include "http/registry.h"

#include <stdbool.h>
#include <stdlib.h>

#include "core/log.h"

struct hook {
	int (*fn)(void *arg);
	void *arg;
};

static struct fw_router router;
static struct hook *hooks;
static size_t nhooks;
static bool sealed;

const struct fw_router *fw_registry_router(void)
{
	return &router;
}

void fw_registry_seal(void)
{
	sealed = true;
}

bool fw_registry_sealed(void)
{
	return sealed;
}

FW_API int fw_route(const char *method, const char *pattern, fw_handler fn, void *arg)
{
	char err[256];

	if (sealed) {
		fw_log(FW_LOG_ERROR, "fw_route(%s, %s): routes must be added before fw_main()",
		       method ? method : "(null)", pattern ? pattern : "(null)");
		return -1;
	}
	if (fw_router_add(&router, method, pattern, fn, arg, err, sizeof(err)) != 0) {
		fw_log(FW_LOG_ERROR, "fw_route(%s, %s): %s", method ? method : "(null)",
		       pattern ? pattern : "(null)", err);
		return -1;
	}
	return 0;
}

FW_API int fw_on_worker_start(int (*fn)(void *arg), void *arg)
{
	struct hook *h;

	if (sealed || fn == NULL) {
		fw_log(FW_LOG_ERROR, "fw_on_worker_start: %s",
		       fn == NULL ? "no function" : "hooks must be added before fw_main()");
		return -1;
	}
	if ((h = realloc(hooks, (nhooks + 1) * sizeof(*h))) == NULL) {
		fw_log(FW_LOG_ERROR, "fw_on_worker_start: out of memory");
		return -1;
	}
	hooks = h;
	hooks[nhooks].fn = fn;
	hooks[nhooks].arg = arg;
	nhooks++;
	return 0;
}

int fw_registry_run_worker_hooks(void)
{
	for (size_t i = 0; i < nhooks; i++) {
		int r = hooks[i].fn(hooks[i].arg);

		if (r != 0)
			return r;
	}
	return 0;
}
