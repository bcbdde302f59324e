/* fuzz_config.c: libFuzzer target for the cell config parser. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "cellconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cell_config *cfg = NULL;
	char err[CONFIG_ERR_MAX];
	char *text;

	if (size > CONFIG_FILE_MAX)
		return 0;
	/* The parser reads a C string: embedded NULs end the text early,
	 * which is what config_load does with a file holding one. */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_parse_string(text, "fuzz.conf", &cfg, err, sizeof err) == CHUBBY_OK) {
		/* Every loaded config must describe a usable cell. */
		if (cfg->nreplicas == 0 || cfg->nreplicas > CONFIG_MAX_REPLICAS)
			abort();
		for (unsigned i = 0; i < cfg->nreplicas; i++)
			if (config_replica(cfg, cfg->replicas[i].id) != &cfg->replicas[i])
				abort();
		config_free(cfg);
	} else if (strncmp(err, "fuzz.conf", 9) != 0) {
		/* Every error names the file. */
		abort();
	}
	free(text);
	return 0;
}
