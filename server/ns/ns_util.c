/* ns_util.c: the namespace's names, ACL file parsing, checksum and messages. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <chubby/chubby.h>

#include "xmalloc.h"

#include "ns_int.h"

/*
 * Names order as their components do: '/' sorts below every other byte, so
 * a node's descendants follow it contiguously and a parent always comes
 * before its children (snapshots rely on both).
 */
int
ns_path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i, n = alen < blen ? alen : blen;
	int ca, cb;

	for (i = 0; i < n; i++) {
		ca = a[i] == '/' ? 0 : (unsigned char)a[i] + 1;
		cb = b[i] == '/' ? 0 : (unsigned char)b[i] + 1;
		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	if (alen == blen)
		return 0;
	return alen < blen ? -1 : 1;
}

/* Appends S to MSG (bounded, always NUL-terminated). */
static void
ns_msg_cat(char *msg, size_t msglen, const char *s)
{
	size_t used, n;

	if (msglen == 0 || s == NULL)
		return;
	used = strlen(msg);
	n = strlen(s);
	if (n > msglen - 1 - used)
		n = msglen - 1 - used;
	memcpy(msg + used, s, n);
	msg[used + n] = '\0';
}

void
ns_msg_set(char *msg, size_t msglen, const char *a, const char *b, const char *c)
{
	if (msglen == 0)
		return;
	msg[0] = '\0';
	ns_msg_cat(msg, msglen, a);
	ns_msg_cat(msg, msglen, b);
	ns_msg_cat(msg, msglen, c);
}

void
ns_msg_u64(char *msg, size_t msglen, const char *a, uint64_t v, const char *b)
{
	char num[24];
	size_t i = sizeof num - 1;

	num[i] = '\0';
	do {
		num[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	ns_msg_set(msg, msglen, a, num + i, b);
}

char *
ns_strndup(const char *p, size_t len)
{
	char *s = xmalloc(len + 1);

	if (len > 0)
		memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/* One name component: non-empty, not "." or "..", no '/' or NUL. */
int
ns_name_check(const char *p, size_t len)
{
	if (len == 0 || len > NS_MAX_ACL_NAME)
		return CHUBBY_E_BAD_NAME;
	if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
		return CHUBBY_E_BAD_NAME;
	if (memchr(p, '/', len) != NULL || memchr(p, '\0', len) != NULL)
		return CHUBBY_E_BAD_NAME;
	return CHUBBY_OK;
}

/* A full name: /ls/<cell> or /ls/<cell>/a/b/c, strictly (Chubby §2.3). */
int
ns_path_check(const struct ns *ns, const char *p, size_t len, char *msg, size_t msglen)
{
	size_t i, start, depth = 0;

	if (len > ns->max_path) {
		ns_msg_u64(msg, msglen, "name longer than ", ns->max_path, " bytes");
		return CHUBBY_E_BAD_NAME;
	}
	if (memchr(p, '\0', len) != NULL) {
		ns_msg_set(msg, msglen, "name contains a NUL byte", NULL, NULL);
		return CHUBBY_E_BAD_NAME;
	}
	if (len < ns->rootlen || memcmp(p, ns->root, ns->rootlen) != 0 ||
	    (len > ns->rootlen && p[ns->rootlen] != '/')) {
		ns_msg_set(msg, msglen, "name must start with ", ns->root, "/");
		return CHUBBY_E_BAD_NAME;
	}
	for (start = ns->rootlen + 1, i = start; len > ns->rootlen && i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		if (ns_name_check(p + start, i - start) != CHUBBY_OK) {
			ns_msg_set(msg, msglen,
			    "empty, \".\" or \"..\" component (or one too long) in a name", NULL,
			    NULL);
			return CHUBBY_E_BAD_NAME;
		}
		if (++depth > ns->max_depth) {
			ns_msg_u64(msg, msglen, "name deeper than ", ns->max_depth, " components");
			return CHUBBY_E_BAD_NAME;
		}
		start = i + 1;
	}
	return CHUBBY_OK;
}

/*
 * Whether an ACL file's contents list PRINCIPAL: one name a line, leading
 * and trailing blanks ignored, blank lines and lines starting with '#'
 * skipped (docs/NAMESPACE.md, "Permissions").
 */
bool
ns_acl_lists(const uint8_t *contents, size_t len, const char *principal)
{
	size_t plen = strlen(principal), i = 0, s, e;

	while (i < len) {
		s = i;
		while (i < len && contents[i] != '\n')
			i++;
		e = i;
		i++; /* past the newline */
		while (s < e && (contents[s] == ' ' || contents[s] == '\t'))
			s++;
		while (e > s && (contents[e - 1] == ' ' || contents[e - 1] == '\t' ||
		    contents[e - 1] == '\r'))
			e--;
		if (e == s || contents[s] == '#')
			continue;
		if (e - s == plen && memcmp(contents + s, principal, plen) == 0)
			return true;
	}
	return false;
}

uint64_t
ns_fnv1a(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	if (len == 0)
		return h;
	for (i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
