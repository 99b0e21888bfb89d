/*
 * systemd's service notifications (Type=notify): READY once every worker
 * is up, RELOADING/READY around a SIGHUP's replacement of the workers,
 * STOPPING on a stop. Nothing happens without $NOTIFY_SOCKET.
 */
#ifndef FW_MASTER_NOTIFY_H
#define FW_MASTER_NOTIFY_H

void fw_notify_ready(const char *status);
void fw_notify_reloading(void);
void fw_notify_stopping(void);

/*
 * At start: take $NOTIFY_SOCKET out of the environment, so that workers
 * and anything they start never see it (notifications are the master's,
 * NotifyAccess=main).
 */
void fw_notify_init(void);
/* $NOTIFY_SOCKET as the master found it ("" without), for its next image (an upgrade). */
const char *fw_notify_socket(void);

#endif
