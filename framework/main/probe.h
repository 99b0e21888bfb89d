/*
 * Health probes for systemd and Kubernetes: `APP -c FILE --probe live`
 * and `--probe ready`. They read the running master's scoreboard (a file
 * on tmpfs) and never send a request to a worker, so a server whose
 * workers are all busy is not restarted for being busy.
 */
#ifndef FW_MAIN_PROBE_H
#define FW_MAIN_PROBE_H

#include "config/config.h"

/*
 * live: the master runs and its loop wrote its heartbeat recently.
 * ready: live, not stopping, and at least one worker accepting.
 * Prints one line ("live: master 1234, heartbeat 0.4 s ago" or why not)
 * and returns the exit status: 0 yes, 1 no, 2 bad usage.
 */
int fw_probe(const struct fw_config *cfg, const char *what);

#endif
