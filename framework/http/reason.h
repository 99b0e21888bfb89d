/* HTTP status codes: their reason phrases (RFC 9110 and registered extras), and which carry a body. */
#ifndef FW_HTTP_REASON_H
#define FW_HTTP_REASON_H

#include <stdbool.h>

/* The reason phrase for code; a generic one by class for unknown codes. */
const char *fw_reason_phrase(int code);

/* May a response with this status carry a body (1xx, 204, 304 may not)? */
bool fw_http_has_body(int code);

#endif
