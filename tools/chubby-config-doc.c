/* chubby-config-doc.c: prints the docs generated from the cell config option table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellconfig.h"

static void
usage(void)
{
	fprintf(stderr, "usage: chubby-config-doc sample|man|help\n"
	                "       chubby-config-doc splice-man FILE\n");
	exit(2);
}

/*
 * Prints FILE (chubby.conf.5) with the lines between its BEGIN and END
 * GENERATED OPTIONS markers replaced by config_write_man's text, so the
 * hand-written rest of the page stays as it is.
 */
static int
splice_man(const char *path)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int state = 0; /* 0 before BEGIN, 1 inside, 2 after END */

	if ((f = fopen(path, "r")) == NULL) {
		perror(path);
		return 1;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (state == 0 && strcmp(line, CONFIG_MAN_BEGIN) == 0) {
			printf("%s\n", line);
			config_write_man(stdout);
			state = 1;
		} else if (state == 1 && strcmp(line, CONFIG_MAN_END) == 0) {
			printf("%s\n", line);
			state = 2;
		} else if (state != 1)
			printf("%s\n", line);
	}
	free(line);
	fclose(f);
	if (state != 2) {
		fprintf(stderr, "%s: no \"%s\" ... \"%s\" lines\n", path, CONFIG_MAN_BEGIN,
		        CONFIG_MAN_END);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "sample") == 0)
		config_write_sample(stdout);
	else if (argc == 2 && strcmp(argv[1], "man") == 0)
		config_write_man(stdout);
	else if (argc == 2 && strcmp(argv[1], "help") == 0)
		config_write_help(stdout);
	else if (argc == 3 && strcmp(argv[1], "splice-man") == 0) {
		if (splice_man(argv[2]) != 0)
			return 1;
	} else
		usage();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("chubby-config-doc: stdout");
		return 1;
	}
	return 0;
}
