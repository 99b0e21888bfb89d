/* HTTP status codes and their reason phrases (RFC 9110 and registered extras). */
#ifndef FW_HTTP_STATUS_H
#define FW_HTTP_STATUS_H

#include <stdbool.h>

/* The reason phrase for code; a generic one by class for unknown codes. */
const char *fw_status_reason(int code);

/* May a response with this status carry a body (1xx, 204, 304 may not)? */
bool fw_status_has_body(int code);

#endif
