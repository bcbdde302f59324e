/*
 * procstat.h: the standard process_* metrics as Prometheus client
 * libraries export them (client_golang's process collector): CPU time,
 * resident and virtual memory, open and maximum file descriptors, and the
 * start time, read from /proc/self when /metrics is scraped (never on a
 * timer: nothing is read while nobody asks).
 */
#ifndef CHUBBY_PROCSTAT_H
#define CHUBBY_PROCSTAT_H

#include <stdint.h>

struct procstat {
	double cpu_seconds;      /* user + system time */
	uint64_t resident_bytes; /* RSS */
	uint64_t virtual_bytes;  /* VSZ */
	uint64_t open_fds, max_fds;
	double start_time;       /* seconds since the Unix epoch */
};

struct prom;

/* Reads this process's figures.  0, or -1 when /proc cannot be read (the
 * caller then leaves the process_* metrics out rather than report zeros). */
int procstat_read(struct procstat *out);

/* This process's CPU time so far (user + system, getrusage), in
 * microseconds; 0 if it cannot be read.  What the lease-under-load rules
 * of chubbyd and chubby-proxy measure their CPU with. */
uint64_t procstat_cpu_us(void);

/* Writes the process_* metrics into P, read now (nothing if /proc cannot
 * be read: better absent than zero). */
void procstat_prom(struct prom *p);

/* Parses the text of /proc/PID/stat: CPU time, memory and start (in
 * clock ticks after boot; BTIME, the boot time in Unix seconds, turns it
 * into a time).  0, or -1 on text it does not understand. */
int procstat_parse_stat(const char *text, long ticks_per_s, long page_size, uint64_t btime,
    struct procstat *out);
/* Finds "btime N" in the text of /proc/stat.  0, or -1. */
int procstat_parse_btime(const char *text, uint64_t *btime);

#endif
