/*
 * fw: C handlers served over FastCGI behind nginx from pre-forked workers.
 *
 * The one header an application includes. Everything here is the public,
 * stable API; nothing under framework/ is visible to applications.
 *
 *     static int hello(fw_req *req, void *arg)
 *     {
 *         fw_set_header(req, "Content-Type", "text/plain");
 *         fw_write(req, "hello\n", 6);
 *         return 200;
 *     }
 *
 *     int main(int argc, char **argv)
 *     {
 *         fw_route("GET", "/hello", hello, NULL);
 *         return fw_main(argc, argv);
 *     }
 */
#ifndef FW_H
#define FW_H

#include <fw/api.h>
#include <fw/app.h>
#include <fw/buf.h>
#include <fw/req.h>
#include <fw/cookie.h>
#include <fw/form.h>
#include <fw/json.h>
#include <fw/log.h>
#include <fw/offload.h>
#include <fw/stream.h>

#endif
