/* Form bodies (public part in <fw/form.h>). */
#ifndef FW_HTTP_FORM_H
#define FW_HTTP_FORM_H

#include <stddef.h>
#include <fw/form.h>

/* The most fields (urlencoded pairs, multipart parts) one body may hold: max_form_fields. */
void fw_form_configure(size_t max_fields);

#endif
