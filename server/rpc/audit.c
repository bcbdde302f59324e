/* audit.c: the audit trail's parseable lines (see audit.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <chubby/chubby.h>

#include "log.h"
#include "rpc/audit.h"

static int
audit_bare(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    strchr("._/:@+-", ch) != NULL;
}

void
audit_kv(char *buf, size_t size, const char *key, const char *value)
{
	size_t n = strlen(buf), i;
	int bare = value[0] != '\0';
	char esc[8];

	for (i = 0; value[i] != '\0' && bare; i++)
		bare = audit_bare((unsigned char)value[i]);
	snprintf(buf + n, size - n, " %s=%s", key, bare ? value : "\"");
	if (bare)
		return;
	n = strlen(buf);
	for (i = 0; value[i] != '\0' && n + 6 < size; i++) {
		unsigned char ch = (unsigned char)value[i];

		if (ch == '"' || ch == '\\')
			snprintf(esc, sizeof esc, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			snprintf(esc, sizeof esc, "\\x%02x", ch);
		else {
			esc[0] = (char)ch;
			esc[1] = '\0';
		}
		snprintf(buf + n, size - n, "%s", esc);
		n = strlen(buf);
	}
	snprintf(buf + n, size - n, "\"");
}

void
audit_log(const char *op, const char *principal, const char *client, const char *path,
    int status, const char *extra, const char *message)
{
	char line[1900] = "audit";

	audit_kv(line, sizeof line, "op", op);
	audit_kv(line, sizeof line, "principal", principal != NULL ? principal : "?");
	if (client != NULL)
		audit_kv(line, sizeof line, "client", client);
	if (path != NULL)
		audit_kv(line, sizeof line, "path", path);
	audit_kv(line, sizeof line, "outcome", status == CHUBBY_OK ? "OK" : chubby_status_name(status));
	if (extra != NULL)
		snprintf(line + strlen(line), sizeof line - strlen(line), "%s", extra);
	if (message != NULL && message[0] != '\0')
		audit_kv(line, sizeof line, "message", message);
	/* Not through log_info: an audit line is written at any log_level. */
	log_emit(LOG_LVL_INFO, "%s", line);
}
