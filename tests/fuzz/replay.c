/*
 * Replays fuzz inputs without libFuzzer: calls LLVMFuzzerTestOneInput once
 * for every regular file under the directories (or files) named on the
 * command line, recursively. Linked with each target as replay_<name>, so
 * that `meson test --suite fuzz` runs the committed corpora and crashes
 * as regression tests in every build. A broken invariant aborts; an
 * argument that does not exist, or no input at all, is a failure too.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static size_t replayed;

/* The whole file in a heap block of its exact size, as libFuzzer passes it. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long size;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc(size > 0 ? (size_t)size : 1)) == NULL ||
	    fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	free(buf);
	replayed++;
	return 0;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_F)
		return replay_file(path);
	if (type == FTW_DNR || type == FTW_NS) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		errno = 0;
		if (nftw(argv[i], visit, 16, FTW_PHYS) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], errno ? strerror(errno) : "failed");
			return 1;
		}
	}
	printf("replayed %zu inputs\n", replayed);
	return replayed > 0 ? 0 : 1;
}
