/*
 * The result vocabulary shared by non-blocking code (after nginx's
 * NGX_OK / NGX_ERROR / NGX_AGAIN / NGX_DONE): a caller's switch has a few
 * arms, the same everywhere. (HTTP statuses are ints of their own;
 * their reason phrases are http/reason.h's.)
 */
#ifndef FW_CORE_RESULT_H
#define FW_CORE_RESULT_H

enum {
	FW_OK = 0,     /* done; results are valid */
	FW_ERROR = -1, /* failed; the reason is logged or returned beside */
	FW_AGAIN = -2, /* needs more input (or output space); call again */
	FW_DONE = 1,   /* done already, another way (a request answered before its handler) */
};

#define FW_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FW_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FW_NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define FW_UNUSED(x) ((void)(x))

#endif
