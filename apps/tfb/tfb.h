/* apps/tfb: the six TechEmpower Framework Benchmarks tests on fw. */
#ifndef TFB_H
#define TFB_H

#include <fw.h>
#include <fw/pg.h>

/* A random World id or randomNumber, 1..10000 (this worker's generator, seeded after fork). */
int tfb_random(void);

/* The `queries` parameter as the rules read it: missing or not a number or < 1 is 1; > 500 is 500. */
int tfb_queries(fw_req *req);

/* Answer a failed batch with its status, and say why in the log. */
void tfb_fail(fw_req *req, fw_pg *pg, const char *what);

/* world.c, fortunes.c: the database tests. */
int tfb_db(fw_req *req, void *arg);
int tfb_multi(fw_req *req, void *arg);
int tfb_updates(fw_req *req, void *arg);
int tfb_fortunes(fw_req *req, void *arg);

/* The statements every connection prepares. */
#define TFB_WORLD "world"
#define TFB_UPDATE "update"
#define TFB_FORTUNES "fortunes"

#endif
