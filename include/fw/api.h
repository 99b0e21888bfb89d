/* Export marker and version of the fw public API. */
#ifndef FW_API_H
#define FW_API_H

#if defined(__GNUC__)
#define FW_API __attribute__((visibility("default")))
#define FW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FW_API
#define FW_PRINTF(f, a)
#endif

#define FW_VERSION_MAJOR 0
#define FW_VERSION_MINOR 1
#define FW_VERSION_PATCH 0
#define FW_VERSION_STRING "0.1.0"

#endif
