/* test_json.c: the JSON writer: nesting, commas, escaping, invalid UTF-8. */
#include "config.h"

#include <string.h>

#include "harness.h"
#include "json.h"

static void
test_nesting(void)
{
	struct json j;

	json_init(&j);
	json_obj_begin(&j);
	json_kv_bool(&j, "ok", 1);
	json_kv_uint(&j, "epoch", 42);
	json_key(&j, "replicas");
	json_arr_begin(&j);
	for (int i = 1; i <= 2; i++) {
		json_obj_begin(&j);
		json_kv_int(&j, "id", i);
		json_kv_str(&j, "role", i == 1 ? "master" : "replica");
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_key(&j, "none");
	json_null(&j);
	json_obj_end(&j);
	CU_ASSERT_STRING_EQUAL(json_text(&j), "{\"ok\":true,\"epoch\":42,\"replicas\":[{\"id\":1,"
					       "\"role\":\"master\"},{\"id\":2,\"role\":\"replica\"}],"
					       "\"none\":null}");
	json_free(&j);
}

static void
test_escaping(void)
{
	struct json j;

	json_init(&j);
	json_arr_begin(&j);
	json_str(&j, "a\"b\\c\n\t\x01");
	json_strn(&j, "caf\xc3\xa9", 5);      /* valid UTF-8 passes through */
	json_strn(&j, "x\xff\xc3(y", 5);       /* invalid bytes are escaped */
	json_strn(&j, "\xed\xa0\x80", 3);      /* a surrogate is not valid UTF-8 */
	json_strn(&j, "n\0ul", 4);             /* embedded NUL */
	json_arr_end(&j);
	CU_ASSERT_STRING_EQUAL(json_text(&j),
	    "[\"a\\\"b\\\\c\\n\\t\\u0001\",\"caf\xc3\xa9\",\"x\\u00ff\\u00c3(y\","
	    "\"\\u00ed\\u00a0\\u0080\",\"n\\u0000ul\"]");
	json_free(&j);
}

static void
test_empty(void)
{
	struct json j;

	json_init(&j);
	CU_ASSERT_STRING_EQUAL(json_text(&j), "");
	json_obj_begin(&j);
	json_obj_end(&j);
	CU_ASSERT_STRING_EQUAL(json_text(&j), "{}");
	json_free(&j);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"nesting and commas", test_nesting},
	    {"escaping", test_escaping},
	    {"empty", test_empty},
	    {NULL, NULL},
	};
	harness_suite("json", NULL, NULL, tests);
}
