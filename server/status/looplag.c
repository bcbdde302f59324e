/* looplag.c: the event loop's lag, as a histogram and a windowed maximum. */
#include "config.h"

#include <string.h>

#include "status/looplag.h"

static const uint64_t looplag_le[LOOPLAG_NBUCKETS] = {LOOPLAG_BUCKETS};

void
looplag_init(struct looplag *l)
{
	memset(l, 0, sizeof *l);
}

uint64_t
looplag_bucket_us(unsigned i)
{
	return i < LOOPLAG_NBUCKETS ? looplag_le[i] : UINT64_MAX;
}

void
looplag_note(struct looplag *l, uint64_t now_ms, uint64_t lag_us)
{
	uint64_t s = now_ms / 1000;
	unsigned i = 0, k = (unsigned)(s % LOOPLAG_WINDOW_S);

	while (i < LOOPLAG_NBUCKETS && lag_us > looplag_le[i])
		i++;
	l->buckets[i]++;
	l->count++;
	l->sum_us += lag_us;
	/* Second S owns slot K until second S + LOOPLAG_WINDOW_S takes it. The
	 * stored second is S + 1 so that an unused slot (0) matches none. */
	if (l->sec[k] != s + 1) {
		l->sec[k] = s + 1;
		l->sec_max_us[k] = 0;
	}
	if (lag_us > l->sec_max_us[k])
		l->sec_max_us[k] = lag_us;
}

uint64_t
looplag_max_us(const struct looplag *l, uint64_t now_ms)
{
	uint64_t s = now_ms / 1000, max = 0;

	for (unsigned k = 0; k < LOOPLAG_WINDOW_S; k++) {
		uint64_t at = l->sec[k];
		if (at == 0 || at > s + 1 || at + LOOPLAG_WINDOW_S <= s + 1)
			continue; /* unused, or older than the window */
		if (l->sec_max_us[k] > max)
			max = l->sec_max_us[k];
	}
	return max;
}
