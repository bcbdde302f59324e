/*
 * fuzz_rpc_smoke.c: runs fuzz_rpc's seed corpus (tests/fuzz/corpus/fuzz_rpc)
 * through its LLVMFuzzerTestOneInput without libFuzzer, in the normal build,
 * so that the handlers' paths the seeds reach also run under the sanitizer
 * and valgrind passes.  Each seed runs whole and cut short at a few points
 * (an input ends anywhere: whatever is deferred then must still be
 * answered).  Prints the SUMMARY line tests/summary counts.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_RPC_CORPUS
#define FUZZ_RPC_CORPUS "tests/fuzz/corpus/fuzz_rpc"
#endif

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap) {
			uint8_t *nb;
			cap = cap ? 2 * cap : 4096;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	for (size_t cut = 1; cut < 4; cut++)
		LLVMFuzzerTestOneInput(buf, len * cut / 4);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : FUZZ_RPC_CORPUS;
	struct dirent **names;
	unsigned passed = 0, failed = 0;
	int n;

	if ((n = scandir(dir, &names, NULL, alphasort)) < 0) {
		perror(dir);
		printf("\nSUMMARY: passed=0 failed=1\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
			/* A failing input aborts (the sanitizers say why). */
			if (run_file(path) == 0)
				passed++;
			else
				failed++;
		}
		free(names[i]);
	}
	free(names);
	printf("fuzz_rpc corpus %s: %u inputs replayed\n", dir, passed);
	printf("\nSUMMARY: passed=%u failed=%u\n", passed, failed);
	return failed == 0 && passed > 0 ? 0 : 1;
}
