/* Monotonic time for timeouts and ages; wall time only for logs. */
#ifndef FW_CORE_CLOCK_H
#define FW_CORE_CLOCK_H

#include <stdint.h>

uint64_t fw_now_ms(void);
uint64_t fw_now_us(void);

#endif
