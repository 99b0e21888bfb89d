/* Monotonic time for timeouts and ages; wall time only for logs. */
#ifndef FW_CORE_CLOCK_H
#define FW_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

uint64_t fw_now_ms(void);
uint64_t fw_now_us(void);

/*
 * now - then, or 0 when `then` is later. Readings taken at different
 * moments meet: the master's loop reads the clock once per pass while an
 * exit reaped in that pass starts a worker at a later reading, and a
 * worker's scoreboard times are its own readings. A plain subtraction
 * wrapped to 2^64 and killed a worker that had just started.
 */
static inline uint64_t fw_elapsed_ms(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/*
 * The UTC calendar fields of t (year, month, day, hour, minute, second;
 * the others are left as they are). What gmtime_r() gives, without its
 * lock: glibc's takes the time-zone lock, a write to its data, and in the
 * master every log line would then copy a page it shares with its workers.
 */
void fw_utc(time_t t, struct tm *tm);

#endif
