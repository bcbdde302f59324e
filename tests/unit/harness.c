/* harness.c: main() shared by the CUnit test programs; prints the SUMMARY line. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "harness.h"

static char tmpdir[256];

void
harness_suite(const char *name, CU_InitializeFunc init, CU_CleanupFunc clean,
    const struct harness_test *tests)
{
	CU_pSuite s = CU_add_suite(name, init, clean);
	if (s == NULL) {
		fprintf(stderr, "harness: cannot add suite %s: %s\n", name, CU_get_error_msg());
		exit(2);
	}
	for (; tests->name != NULL; tests++)
		if (CU_add_test(s, tests->name, tests->fn) == NULL) {
			fprintf(stderr, "harness: cannot add test %s: %s\n", tests->name,
			    CU_get_error_msg());
			exit(2);
		}
}

uint64_t
harness_seed(void)
{
	const char *s = getenv("CHUBBY_TEST_SEED");
	char *end;
	uint64_t v;

	if (s == NULL || *s == '\0')
		return 20261123u;
	/* Decimal only, all of it: a seed that does not parse must not turn
	 * into another seed (0, or octal) and replay a different run. */
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0') {
		fprintf(stderr, "harness: CHUBBY_TEST_SEED=%s is not a decimal number\n", s);
		exit(2);
	}
	return v;
}

static void
harness_rm_tmpdir(void)
{
	if (tmpdir[0] != '\0' && getenv("CHUBBY_TEST_KEEP") == NULL) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not remove %s\n", tmpdir);
	}
}

const char *
harness_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir, sizeof tmpdir, "%s/chubby-test-XXXXXX", base ? base : "/tmp");
		if (mkdtemp(tmpdir) == NULL) {
			perror("harness: mkdtemp");
			exit(2);
		}
		atexit(harness_rm_tmpdir);
	}
	return tmpdir;
}

int
main(int argc, char **argv)
{
	unsigned run, failed;
	const char *prog = argc > 0 ? argv[0] : "the test program";

	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "harness: %s\n", CU_get_error_msg());
		return 2;
	}
	harness_register();
	printf("seed: %llu (replay: CHUBBY_TEST_SEED=%llu %s)\n", (unsigned long long)harness_seed(),
	    (unsigned long long)harness_seed(), prog);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	run = CU_get_number_of_tests_run();
	failed = CU_get_number_of_tests_failed();
	/* A suite whose set-up failed ran none of its tests: count it as a failure. */
	failed += CU_get_number_of_suites_failed();
	/* Next to the summary, where a failed test's log tail shows it. */
	if (failed > 0)
		printf("\nseed: %llu (replay: CHUBBY_TEST_SEED=%llu %s)\n",
		    (unsigned long long)harness_seed(), (unsigned long long)harness_seed(), prog);
	printf("\nSUMMARY: passed=%u failed=%u\n", run >= failed ? run - failed : 0, failed);
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
