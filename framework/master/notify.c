#include "master/notify.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

#ifdef FW_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static void notify_send(const char *what, int r)
{
	if (r < 0)
		fw_log(FW_LOG_WARN, "sd_notify(%s) to $NOTIFY_SOCKET failed: %s", what, strerror(-r));
}

void fw_notify_ready(const char *status)
{
	notify_send("READY", sd_notifyf(0, "READY=1\nSTATUS=%s", status));
}

void fw_notify_reloading(void)
{
	/* The reload protocol: RELOADING with the time, READY when done. */
	notify_send("RELOADING", sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
				     (unsigned long long)fw_now_us()));
}

void fw_notify_stopping(void)
{
	notify_send("STOPPING", sd_notify(0, "STOPPING=1\nSTATUS=stopping"));
}
#else
void fw_notify_ready(const char *status) { (void)status; }
void fw_notify_reloading(void) {}
void fw_notify_stopping(void) {}
#endif

void fw_notify_forget(void)
{
	unsetenv("NOTIFY_SOCKET");
}
