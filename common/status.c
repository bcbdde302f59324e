/* status.c: messages and names for the status codes in chubby.h's one table. */
#include <string.h>

#include <chubby/chubby.h>

struct status_entry {
	int num;
	const char *name;
	const char *msg;
};

static const struct status_entry status_table[] = {
#define STATUS_ENTRY(name, num, msg) {num, #name, msg},
	CHUBBY_STATUS_LIST(STATUS_ENTRY)
#undef STATUS_ENTRY
};

static const struct status_entry *
status_find(int status)
{
	for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++)
		if (status_table[i].num == status)
			return &status_table[i];
	return NULL;
}

CHUBBY_API const char *
chubby_strerror(int status)
{
	const struct status_entry *e = status_find(status);
	return e != NULL ? e->msg : "unknown error";
}

CHUBBY_API const char *
chubby_status_name(int status)
{
	const struct status_entry *e = status_find(status);
	return e != NULL ? e->name : "E_UNKNOWN";
}

CHUBBY_API int
chubby_status_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++)
		if (strcmp(status_table[i].name, name) == 0)
			return status_table[i].num;
	return -1;
}
