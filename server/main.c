/* main.c: chubbyd, one replica of a chubby cell (wiring only). */
#include "config.h"

#include <stdio.h>

int
main(void)
{
	printf("chubbyd %s\n", PACKAGE_VERSION);
	return 0;
}
