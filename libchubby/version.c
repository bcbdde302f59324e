/* version.c: the library's version string. */
#include "config.h"

#include <chubby/chubby.h>

CHUBBY_API const char *
chubby_version(void)
{
	return PACKAGE_VERSION;
}
