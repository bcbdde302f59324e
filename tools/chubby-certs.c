/* chubby-certs.c: makes a cell's CA and certificates, and shows certificates. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "certgen.h"
#include "tls.h"
#include "xmalloc.h"

#define EXIT_USAGE 2

/* Options; each command lists those it accepts. */
enum {
	OPT_DIR = 1 << 0,
	OPT_CELL = 1 << 1,
	OPT_DAYS = 1 << 2,
	OPT_FORCE = 1 << 3,
	OPT_ID = 1 << 4,
	OPT_IP = 1 << 5,
	OPT_DNS = 1 << 6,
	OPT_NAME = 1 << 7,
	OPT_REPLICAS = 1 << 8,
	OPT_CSR = 1 << 9,
	OPT_OUT = 1 << 10,
};

struct certs_opts {
	unsigned seen;
	const char *dir;
	const char *cell;
	const char *name;
	const char *csr;
	const char *out;
	int days;
	int id;
	int replicas;
	int force;
	const char *ips[CERTGEN_MAX_SANS];
	size_t nips;
	const char *dns[CERTGEN_MAX_SANS];
	size_t ndns;
};

struct certs_cmd {
	const char *name;
	int (*fn)(struct certs_opts *, int argc, char **argv);
	unsigned allowed;
	unsigned required;
	const char *args;
	const char *help;
};

static int certs_init(struct certs_opts *, int, char **);
static int certs_replica(struct certs_opts *, int, char **);
static int certs_client(struct certs_opts *, int, char **);
static int certs_cell(struct certs_opts *, int, char **);
static int certs_show(struct certs_opts *, int, char **);
static int certs_sign(struct certs_opts *, int, char **);
static int certs_revoke(struct certs_opts *, int, char **);
static int certs_crl(struct certs_opts *, int, char **);
static int certs_seqkey(struct certs_opts *, int, char **);
static int certs_proxy(struct certs_opts *, int, char **);

static const struct certs_cmd certs_cmds[] = {
    {"init", certs_init, OPT_DIR | OPT_CELL | OPT_DAYS | OPT_FORCE, OPT_DIR,
	"--dir DIR [--cell NAME] [--days N] [--force]",
	"make the cell CA: DIR/ca.crt and DIR/ca.key"},
    {"replica", certs_replica, OPT_DIR | OPT_ID | OPT_IP | OPT_DNS | OPT_DAYS, OPT_DIR | OPT_ID,
	"--dir DIR --id N [--ip ADDR]... [--dns NAME]... [--days N]",
	"issue DIR/replica-N.crt and .key (default address 127.0.0.(10+N))"},
    {"client", certs_client, OPT_DIR | OPT_NAME | OPT_DAYS, OPT_DIR | OPT_NAME,
	"--dir DIR --name NAME [--days N]", "issue DIR/client-NAME.crt and .key"},
    {"proxy", certs_proxy, OPT_DIR | OPT_NAME | OPT_DAYS, OPT_DIR | OPT_NAME,
	"--dir DIR --name NAME [--days N]",
	"issue DIR/proxy-NAME.crt and .key: a client certificate for NAME that may also serve\n"
	"      (chubby-proxy; list NAME in the cell's proxies)"},
    {"cell", certs_cell, OPT_DIR | OPT_REPLICAS | OPT_CELL | OPT_DAYS, OPT_DIR | OPT_REPLICAS,
	"--dir DIR --replicas N [--cell NAME] [--days N]",
	"the CA if missing, replicas 1..N and the client \"admin\""},
    {"sign", certs_sign, OPT_DIR | OPT_CSR | OPT_NAME | OPT_ID | OPT_IP | OPT_DNS | OPT_DAYS | OPT_OUT,
	OPT_DIR | OPT_CSR, "--dir DIR --csr FILE [--name NAME | --id N [--ip ADDR]... [--dns NAME]...] "
	"[--out FILE] [--days N]",
	"sign a certificate request: a client certificate for NAME (default: the request's CN),\n"
	"      or replica N's with --id; to FILE, else to standard output"},
    {"revoke", certs_revoke, OPT_DIR | OPT_DAYS, OPT_DIR, "--dir DIR [--days N] CERT...",
	"add certificates to DIR/revoked.txt and make DIR/ca.crl again"},
    {"crl", certs_crl, OPT_DIR | OPT_DAYS, OPT_DIR, "--dir DIR [--days N]",
	"make DIR/ca.crl (the revoked certificates, signed by the CA) again, valid N days"},
    {"seqkey", certs_seqkey, OPT_OUT, OPT_OUT, "--out FILE",
	"a new sequencer key (32 random bytes, hex, mode 0600) for sequencer_key_file"},
    {"show", certs_show, 0, 0, "FILE...",
	"kind, name, cell, addresses, validity and fingerprint of certificates"},
};
#define NCMDS (sizeof certs_cmds / sizeof certs_cmds[0])

static const struct {
	unsigned bit;
	const char *name;
} certs_opt_names[] = {
    {OPT_DIR, "--dir"},	  {OPT_CELL, "--cell"}, {OPT_DAYS, "--days"},
    {OPT_FORCE, "--force"}, {OPT_ID, "--id"},	    {OPT_IP, "--ip"},
    {OPT_DNS, "--dns"},	  {OPT_NAME, "--name"}, {OPT_REPLICAS, "--replicas"},
    {OPT_CSR, "--csr"},	  {OPT_OUT, "--out"},
};

static void
certs_usage(FILE *f)
{
	fprintf(f, "usage: chubby-certs COMMAND [options]\n\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  chubby-certs %s %s\n      %s\n", certs_cmds[i].name, certs_cmds[i].args,
		    certs_cmds[i].help);
	fprintf(f, "\nDefaults: --cell local, --days %d for a CA, %d for other certificates, %d for a "
		   "CRL.\n"
		   "Keys are EC P-256, written unencrypted with mode 0600.  chubby-certs(1) has more.\n"
		   "  -h, --help     this help\n"
		   "      --version  print the version\n",
	    CERTGEN_CA_DAYS, CERTGEN_LEAF_DAYS, CERTGEN_CRL_DAYS);
}

static int __attribute__((format(printf, 1, 2)))
certs_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "chubby-certs: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see chubby-certs --help)\n");
	return EXIT_USAGE;
}

static int __attribute__((format(printf, 1, 2)))
certs_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "chubby-certs: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return EXIT_FAILURE;
}

/* A whole decimal number in LO..HI, else -1. */
static int
certs_number(const char *s, int lo, int hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	return (int)v;
}

static char *
certs_path(const char *dir, const char *name, const char *suffix)
{
	char *p;

	xasprintf(&p, "%s/%s%s", dir, name, suffix);
	return p;
}

static int
certs_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Creates DIR and its missing parents; DIR itself 0700, as it holds keys. */
static int
certs_mkdir(const char *dir)
{
	char *p = xstrdup(dir);
	struct stat st;

	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			int rc = certs_fail("cannot create directory %s: %s", p, strerror(errno));
			free(p);
			return rc;
		}
		*s = '/';
	}
	free(p);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return certs_fail("cannot create directory %s: %s", dir, strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return certs_fail("%s is not a directory", dir);
	return 0;
}

static const char *
certs_date(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

static int64_t
certs_days(int days)
{
	return (int64_t)days * 86400;
}

/* Loads DIR's CA with its key for signing. */
static int
certs_load_ca(const char *dir, struct certgen **ca)
{
	char *crt = certs_path(dir, "ca", ".crt"), *key = certs_path(dir, "ca", ".key");
	char err[512];
	int rc = 0;

	if (!certs_exists(crt))
		rc = certs_fail("no CA in %s (make one with: chubby-certs init --dir %s)", dir, dir);
	else if (certgen_load(crt, key, ca, err, sizeof err) != CHUBBY_OK)
		rc = certs_fail("cannot use the CA in %s: %s", dir, err);
	free(crt);
	free(key);
	return rc;
}

static int
certs_make_ca(const char *dir, const char *cell, int days, int force)
{
	char *crt = certs_path(dir, "ca", ".crt"), *key = certs_path(dir, "ca", ".key");
	struct certgen *ca = NULL;
	char err[512], until[40];
	int rc = 0;

	if (certgen_ca(cell, -CERTGEN_BACKDATE, certs_days(days), &ca, err, sizeof err) != CHUBBY_OK)
		rc = certs_fail("cannot make the CA: %s", err);
	else if (certgen_write(ca, crt, key, force ? CERTGEN_OVERWRITE : 0, err, sizeof err) !=
	    CHUBBY_OK)
		rc = certs_fail("%s", err);
	else
		printf("made the CA of cell \"%s\": %s (key %s), valid until %s\n", cell, crt, key,
		    certs_date((int64_t)time(NULL) + certs_days(days), until, sizeof until));
	certgen_free(ca);
	free(crt);
	free(key);
	return rc;
}

/* Issues one leaf per REQ into DIR/BASE.crt and .key, replacing older ones:
 * a leaf is renewed by issuing it again. */
static int
certs_issue(const struct certgen *ca, const char *dir, const char *base,
    const struct certgen_req *req)
{
	char *crt = certs_path(dir, base, ".crt"), *key = certs_path(dir, base, ".key");
	struct certgen *leaf = NULL;
	struct certgen_info info;
	char err[512], until[40];
	int rc = 0;

	if (certgen_issue(ca, req, &leaf, err, sizeof err) != CHUBBY_OK)
		rc = certs_fail("cannot issue %s: %s", base,
		    strncmp(err, "certgen: ", 9) == 0 ? err + 9 : err);
	else if (certgen_write(leaf, crt, key, CERTGEN_OVERWRITE, err, sizeof err) != CHUBBY_OK)
		rc = certs_fail("%s", err);
	else if (certgen_inspect(crt, &info, err, sizeof err) != CHUBBY_OK)
		rc = certs_fail("%s", err);
	else
		printf("issued %s%s%s%s: %s (key %s), valid until %s\n", base,
		    info.sans[0] != '\0' ? " (" : "", info.sans, info.sans[0] != '\0' ? ")" : "", crt,
		    key, certs_date(info.not_after, until, sizeof until));
	certgen_free(leaf);
	free(crt);
	free(key);
	return rc;
}

static int
certs_issue_replica(const struct certgen *ca, const struct certs_opts *o, int id)
{
	struct certgen_req req = {
	    .kind = CERTGEN_REPLICA,
	    .replica_id = id,
	    .ips = o->ips,
	    .nips = o->nips,
	    .dns = o->dns,
	    .ndns = o->ndns,
	    .not_before = -CERTGEN_BACKDATE,
	    .not_after = certs_days(o->days),
	};
	char base[32];

	snprintf(base, sizeof base, "%s%d", TLS_REPLICA_PREFIX, id);
	return certs_issue(ca, o->dir, base, &req);
}

static int
certs_issue_client(const struct certgen *ca, const struct certs_opts *o, const char *name)
{
	struct certgen_req req = {
	    .kind = CERTGEN_CLIENT,
	    .name = name,
	    .not_before = -CERTGEN_BACKDATE,
	    .not_after = certs_days(o->days),
	};
	char *base;
	int rc;

	xasprintf(&base, "client-%s", name);
	rc = certs_issue(ca, o->dir, base, &req);
	free(base);
	return rc;
}

static int
certs_proxy(struct certs_opts *o, int argc, char **argv)
{
	struct certgen *ca = NULL;
	struct certgen_req req = {
	    .kind = CERTGEN_CLIENT,
	    .name = o->name,
	    .not_before = -CERTGEN_BACKDATE,
	    .not_after = certs_days(o->days),
	    .serve = true,
	};
	char *base;
	int rc;

	(void)argc;
	(void)argv;
	if (!tls_principal_valid(o->name))
		return certs_usage_error("bad proxy name \"%s\": use 1 to 64 letters, digits, "
					 "'.', '_', '@' or '-', not starting with '.' or '-'",
		    o->name);
	if ((rc = certs_load_ca(o->dir, &ca)) != 0)
		return rc;
	xasprintf(&base, "proxy-%s", o->name);
	rc = certs_issue(ca, o->dir, base, &req);
	free(base);
	certgen_free(ca);
	return rc;
}

static int
certs_init(struct certs_opts *o, int argc, char **argv)
{
	char *crt, *key;
	int rc = 0;

	(void)argc;
	(void)argv;
	if (!(o->seen & OPT_DAYS))
		o->days = CERTGEN_CA_DAYS;
	if ((rc = certs_mkdir(o->dir)) != 0)
		return rc;
	crt = certs_path(o->dir, "ca", ".crt");
	key = certs_path(o->dir, "ca", ".key");
	if (!o->force && (certs_exists(crt) || certs_exists(key)))
		rc = certs_fail("%s already exists: a new CA would orphan every certificate the old "
				"one signed (use --force to replace it anyway)",
		    certs_exists(crt) ? crt : key);
	free(crt);
	free(key);
	if (rc != 0)
		return rc;
	return certs_make_ca(o->dir, o->cell, o->days, o->force);
}

static int
certs_replica(struct certs_opts *o, int argc, char **argv)
{
	struct certgen *ca = NULL;
	int rc;

	(void)argc;
	(void)argv;
	if (o->nips == 0 && o->id + 10 > 255)
		return certs_usage_error("replica %d has no default address; give --ip", o->id);
	if ((rc = certs_load_ca(o->dir, &ca)) != 0)
		return rc;
	rc = certs_issue_replica(ca, o, o->id);
	certgen_free(ca);
	return rc;
}

static int
certs_client(struct certs_opts *o, int argc, char **argv)
{
	struct certgen *ca = NULL;
	int rc;

	(void)argc;
	(void)argv;
	if (!tls_principal_valid(o->name))
		return certs_usage_error("bad client name \"%s\": use 1 to 64 letters, digits, "
					 "'.', '_', '@' or '-', not starting with '.' or '-'",
		    o->name);
	if ((rc = certs_load_ca(o->dir, &ca)) != 0)
		return rc;
	rc = certs_issue_client(ca, o, o->name);
	certgen_free(ca);
	return rc;
}

static int
certs_cell(struct certs_opts *o, int argc, char **argv)
{
	struct certgen *ca = NULL;
	char *crt;
	int rc, have_ca;

	(void)argc;
	(void)argv;
	if ((rc = certs_mkdir(o->dir)) != 0)
		return rc;
	crt = certs_path(o->dir, "ca", ".crt");
	have_ca = certs_exists(crt);
	free(crt);
	if (!have_ca && (rc = certs_make_ca(o->dir, o->cell, CERTGEN_CA_DAYS, 0)) != 0)
		return rc;
	if ((rc = certs_load_ca(o->dir, &ca)) != 0)
		return rc;
	if (have_ca && (o->seen & OPT_CELL) && strcmp(certgen_cell(ca), o->cell) != 0) {
		rc = certs_fail("the CA in %s is for cell \"%s\", not \"%s\"", o->dir,
		    certgen_cell(ca), o->cell);
		goto out;
	}
	if (have_ca)
		printf("using the CA of cell \"%s\" in %s\n", certgen_cell(ca), o->dir);
	for (int i = 1; i <= o->replicas && rc == 0; i++)
		rc = certs_issue_replica(ca, o, i);
	if (rc == 0)
		rc = certs_issue_client(ca, o, "admin");
out:
	certgen_free(ca);
	return rc;
}

static int
certs_show_one(const char *file)
{
	struct certgen_info in;
	char err[512], from[40], until[40], left[64];
	int64_t now = (int64_t)time(NULL);

	if (certgen_inspect(file, &in, err, sizeof err) != CHUBBY_OK)
		return certs_fail("%s", err);
	if (now < in.not_before)
		snprintf(left, sizeof left, " (NOT YET VALID)");
	else if (now > in.not_after)
		snprintf(left, sizeof left, " (EXPIRED %lld days ago)",
		    (long long)((now - in.not_after) / 86400));
	else
		snprintf(left, sizeof left, " (%lld days left)",
		    (long long)((in.not_after - now) / 86400));
	printf("%s:\n", file);
	if (in.kind == CERTGEN_REPLICA)
		printf("  kind:        replica %d\n", in.replica_id);
	else
		printf("  kind:        %s\n", certgen_kind_name(in.kind));
	printf("  name:        %s\n", in.name);
	printf("  cell:        %s\n", in.cell[0] != '\0' ? in.cell : "(none)");
	printf("  subject:     %s\n", in.subject);
	printf("  issuer:      %s\n", in.issuer);
	if (in.sans[0] != '\0')
		printf("  addresses:   %s\n", in.sans);
	if (in.usage[0] != '\0')
		printf("  usage:       %s\n", in.usage);
	printf("  valid from:  %s\n", certs_date(in.not_before, from, sizeof from));
	printf("  valid until: %s%s\n", certs_date(in.not_after, until, sizeof until), left);
	printf("  sha256:      %s\n", in.sha256);
	if (in.kind == CERTGEN_UNKNOWN && in.problem[0] != '\0')
		printf("  problem:     %s\n",
		    strncmp(in.problem, "tls: ", 5) == 0 ? in.problem + 5 : in.problem);
	return 0;
}

static int
certs_show(struct certs_opts *o, int argc, char **argv)
{
	int rc = 0;

	(void)o;
	if (argc == 0)
		return certs_usage_error("show needs a certificate file");
	for (int i = 0; i < argc; i++) {
		if (i > 0)
			printf("\n");
		if (certs_show_one(argv[i]) != 0)
			rc = EXIT_FAILURE;
	}
	return rc;
}

/* Where a CA directory keeps its revocation index and its CRL. */
#define CERTS_INDEX "revoked.txt"
#define CERTS_CRL "ca.crl"

static int
certs_sign(struct certs_opts *o, int argc, char **argv)
{
	struct certgen *ca = NULL, *leaf = NULL;
	struct certgen_req req = {
	    .not_before = -CERTGEN_BACKDATE,
	    .not_after = certs_days(o->days),
	    .ips = o->ips,
	    .nips = o->nips,
	    .dns = o->dns,
	    .ndns = o->ndns,
	};
	char name[TP_NAME_MAX], err[1024], until[40];
	struct certgen_info info;
	int rc;

	(void)argc;
	(void)argv;
	if ((o->seen & OPT_NAME) && (o->seen & OPT_ID))
		return certs_usage_error("sign makes a client (--name) or a replica (--id) "
					 "certificate, not both");
	if ((o->seen & (OPT_IP | OPT_DNS)) && !(o->seen & OPT_ID))
		return certs_usage_error("--ip and --dns are for replica certificates (--id)");
	if (o->seen & OPT_ID) {
		req.kind = CERTGEN_REPLICA;
		req.replica_id = o->id;
	} else {
		req.kind = CERTGEN_CLIENT;
		if (o->name == NULL) {
			/* The request's CN is only a suggestion, taken when the CA
			 * holder names nobody; a replica's name is never taken
			 * from it (certgen_sign_csr refuses that). */
			if (certgen_csr_name(o->csr, name, sizeof name, err, sizeof err) != CHUBBY_OK)
				return certs_fail("%s", err);
			o->name = name;
		}
		if (!tls_principal_valid(o->name))
			return certs_usage_error("bad client name \"%s\": give --name (1 to 64 letters, "
						 "digits, '.', '_', '@' or '-')",
			    o->name);
		req.name = o->name;
	}
	if ((rc = certs_load_ca(o->dir, &ca)) != 0)
		return rc;
	if ((rc = certgen_sign_csr(ca, o->csr, &req, &leaf, err, sizeof err)) != CHUBBY_OK) {
		rc = certs_fail("cannot sign %s: %s", o->csr,
		    strncmp(err, "certgen: ", 9) == 0 ? err + 9 : err);
	} else if (o->out == NULL) {
		rc = certgen_print(leaf, stdout, err, sizeof err) == CHUBBY_OK ? 0 : certs_fail("%s", err);
	} else if (certgen_write(leaf, o->out, NULL, 0, err, sizeof err) != CHUBBY_OK) {
		rc = certs_fail("%s", err);
	} else if (certgen_inspect(o->out, &info, err, sizeof err) != CHUBBY_OK) {
		rc = certs_fail("%s", err);
	} else {
		if (info.kind == CERTGEN_REPLICA)
			printf("signed %s: replica %d, %s, valid until %s\n", o->csr, info.replica_id,
			    o->out, certs_date(info.not_after, until, sizeof until));
		else
			printf("signed %s: client \"%s\", %s, valid until %s\n", o->csr, info.name,
			    o->out, certs_date(info.not_after, until, sizeof until));
	}
	certgen_free(leaf);
	certgen_free(ca);
	return rc;
}

/* Makes DIR's CRL from its index, valid DAYS. */
static int
certs_write_crl(const struct certgen *ca, const char *dir, int days)
{
	char *index = certs_path(dir, CERTS_INDEX, ""), *crl = certs_path(dir, CERTS_CRL, "");
	char err[1024], until[40];
	int rc = 0;

	if (certgen_crl(ca, index, crl, certs_days(days), err, sizeof err) != CHUBBY_OK)
		rc = certs_fail("cannot make the CRL: %s", err);
	else
		printf("wrote %s, valid until %s: make it again before then (chubby-certs crl)\n",
		    crl, certs_date((int64_t)time(NULL) + certs_days(days), until, sizeof until));
	free(index);
	free(crl);
	return rc;
}

static int
certs_revoke(struct certs_opts *o, int argc, char **argv)
{
	struct certgen *ca = NULL;
	char *index;
	char serial[128], err[1024];
	int rc = 0, added = 0;

	if (argc == 0)
		return certs_usage_error("revoke needs the certificate files to revoke");
	if (!(o->seen & OPT_DAYS))
		o->days = CERTGEN_CRL_DAYS;
	if ((rc = certs_load_ca(o->dir, &ca)) != 0)
		return rc;
	index = certs_path(o->dir, CERTS_INDEX, "");
	for (int i = 0; i < argc; i++) {
		int r = certgen_revoke(ca, argv[i], index, serial, sizeof serial, err, sizeof err);
		if (r == CHUBBY_OK) {
			printf("revoked %s (serial %s)\n", argv[i], serial);
			added++;
		} else if (r == CHUBBY_E_EXISTS) {
			printf("%s\n", err);
		} else {
			rc = certs_fail("cannot revoke %s: %s", argv[i], err);
		}
	}
	/* Also when nothing was added: the CRL is then made fresh, and one
	 * that was lost is made again. */
	if (certs_write_crl(ca, o->dir, o->days) != 0)
		rc = EXIT_FAILURE;
	else if (added > 0)
		printf("now reload every replica (lockctl reload, or SIGHUP) and give the CRL to the "
		       "clients that use one\n");
	free(index);
	certgen_free(ca);
	return rc;
}

static int
certs_crl(struct certs_opts *o, int argc, char **argv)
{
	struct certgen *ca = NULL;
	int rc;

	(void)argc;
	(void)argv;
	if (!(o->seen & OPT_DAYS))
		o->days = CERTGEN_CRL_DAYS;
	if ((rc = certs_load_ca(o->dir, &ca)) != 0)
		return rc;
	rc = certs_write_crl(ca, o->dir, o->days);
	certgen_free(ca);
	return rc;
}

static int
certs_seqkey(struct certs_opts *o, int argc, char **argv)
{
	char err[1024];

	(void)argc;
	(void)argv;
	if (certgen_seqkey(o->out, err, sizeof err) != CHUBBY_OK)
		return certs_fail("%s", err);
	printf("wrote a new sequencer key to %s (mode 0600): name it in sequencer_key_file, the "
	       "same file on every replica\n",
	    o->out);
	return 0;
}

static const char *
certs_opt_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof certs_opt_names / sizeof certs_opt_names[0]; i++)
		if (certs_opt_names[i].bit == bit)
			return certs_opt_names[i].name;
	return "?";
}

/* Parses the options after COMMAND into O; returns 0 or an exit code. */
static int
certs_parse(const struct certs_cmd *cmd, struct certs_opts *o, int *argc, char ***argv)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},  {"cell", required_argument, NULL, 'c'},
	    {"days", required_argument, NULL, 'D'}, {"force", no_argument, NULL, 'f'},
	    {"id", required_argument, NULL, 'i'},   {"ip", required_argument, NULL, 'a'},
	    {"dns", required_argument, NULL, 'n'},  {"name", required_argument, NULL, 'N'},
	    {"replicas", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
	    {"csr", required_argument, NULL, 'R'},  {"out", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	unsigned bit;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(*argc, *argv, "+:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			bit = OPT_DIR;
			o->dir = optarg;
			break;
		case 'c':
			bit = OPT_CELL;
			o->cell = optarg;
			if (!tls_cell_valid(optarg))
				return certs_usage_error("bad cell name \"%s\": use 1 to 64 letters, "
							 "digits, '.', '_' or '-'",
				    optarg);
			break;
		case 'D':
			bit = OPT_DAYS;
			if ((o->days = certs_number(optarg, 1, 36500)) < 0)
				return certs_usage_error("--days takes a number from 1 to 36500");
			break;
		case 'f':
			bit = OPT_FORCE;
			o->force = 1;
			break;
		case 'i':
			bit = OPT_ID;
			if ((o->id = certs_number(optarg, 1, TLS_MAX_REPLICA_ID)) < 0)
				return certs_usage_error("--id takes a replica id from 1 to %d",
				    TLS_MAX_REPLICA_ID);
			break;
		case 'a':
			bit = OPT_IP;
			if (o->nips + o->ndns + 1 >= CERTGEN_MAX_SANS)
				return certs_usage_error("too many --ip and --dns");
			o->ips[o->nips++] = optarg;
			break;
		case 'n':
			bit = OPT_DNS;
			if (o->nips + o->ndns + 1 >= CERTGEN_MAX_SANS)
				return certs_usage_error("too many --ip and --dns");
			o->dns[o->ndns++] = optarg;
			break;
		case 'N':
			bit = OPT_NAME;
			o->name = optarg;
			break;
		case 'r':
			bit = OPT_REPLICAS;
			if ((o->replicas = certs_number(optarg, 1, 255 - 10)) < 0)
				return certs_usage_error("--replicas takes a number from 1 to 245");
			break;
		case 'R':
			bit = OPT_CSR;
			o->csr = optarg;
			break;
		case 'o':
			bit = OPT_OUT;
			o->out = optarg;
			break;
		case 'h':
			printf("usage: chubby-certs %s %s\n  %s\n", cmd->name, cmd->args, cmd->help);
			return -1;
		case ':':
			return certs_usage_error("%s needs a value", (*argv)[optind - 1]);
		default:
			return certs_usage_error("unknown option %s", (*argv)[optind - 1]);
		}
		if (!(cmd->allowed & bit))
			return certs_usage_error("%s does not apply to %s", certs_opt_name(bit),
			    cmd->name);
		o->seen |= bit;
	}
	*argc -= optind;
	*argv += optind;
	for (unsigned b = 1; b <= OPT_OUT; b <<= 1)
		if ((cmd->required & b) && !(o->seen & b))
			return certs_usage_error("%s needs %s", cmd->name, certs_opt_name(b));
	if (cmd->fn != certs_show && cmd->fn != certs_revoke && *argc > 0)
		return certs_usage_error("unexpected argument %s", (*argv)[0]);
	return 0;
}

int
main(int argc, char **argv)
{
	struct certs_opts o;
	const struct certs_cmd *cmd = NULL;
	int rc;

	if (argc < 2) {
		certs_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		certs_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("chubby-certs %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(argv[1], certs_cmds[i].name) == 0)
			cmd = &certs_cmds[i];
	if (cmd == NULL)
		return certs_usage_error("unknown command \"%s\"", argv[1]);

	memset(&o, 0, sizeof o);
	o.cell = "local";
	o.days = CERTGEN_LEAF_DAYS;
	argc--;
	argv++;
	rc = certs_parse(cmd, &o, &argc, &argv);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	return cmd->fn(&o, argc, argv);
}
