/*
 * harness.h: the shared main() of every CUnit test program.  A test file
 * defines harness_register(), which adds its suites with harness_suite();
 * the harness runs them and prints "SUMMARY: passed=N failed=M", the line
 * tests/summary adds up across the whole suite.
 */
#ifndef CHUBBY_TEST_HARNESS_H
#define CHUBBY_TEST_HARNESS_H

#include <stdint.h>

#include <CUnit/CUnit.h>

struct harness_test {
	const char *name;
	CU_TestFunc fn;
};

/* Defined by each test program. */
void harness_register(void);

/* Adds a suite; TESTS ends with {NULL, NULL}. */
void harness_suite(const char *name, CU_InitializeFunc init, CU_CleanupFunc clean,
    const struct harness_test *tests);

/* The seed for this run's pseudo-random choices: CHUBBY_TEST_SEED if set
 * (decimal; tests/run-all sets a fresh one per run), else a fixed default.
 * The same seed replays the same run exactly; main() prints it. */
uint64_t harness_seed(void);

/* Path of a fresh temporary directory for this test program (removed at exit). */
const char *harness_tmpdir(void);

#endif
