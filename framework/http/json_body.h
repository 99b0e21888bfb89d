/* JSON request bodies (public part in <fw/json.h>). */
#ifndef FW_HTTP_JSON_BODY_H
#define FW_HTTP_JSON_BODY_H

#include <stddef.h>

/* How many blocks jansson took from malloc in this process (not request memory). */
size_t fw_json_heap_allocs(void);

#endif
