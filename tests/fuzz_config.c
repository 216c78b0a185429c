/* fuzz_config — libFuzzer target for the TOML -> Config path: any text must be refused with
 * messages that name the file, or accepted into a config whose resolved dump parses back to the
 * same dump; never a crash, a leak or an out-of-bounds read (built with
 * -fsanitize=fuzzer,address,undefined by tests/fuzz_config.sh). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = 0;
  Config c;
  CfgErrors errs = {0};
  if (cfg_load_text(&c, text, "fuzz.toml", NULL, 0, &errs) == 0) {
    char *dump = cfg_dump_string(&c);
    Config again;
    CfgErrors e2 = {0};
    if (cfg_load_text(&again, dump, "dump", NULL, 0, &e2) != 0) __builtin_trap();
    char *dump2 = cfg_dump_string(&again);
    if (strcmp(dump, dump2) != 0) __builtin_trap(); /* the dump is a fixed point */
    free(dump), free(dump2);
    cfg_errors_free(&e2);
  } else {
    /* every message names the file (or the missing key's source) */
    if (errs.count < 1 || !errs.text || strncmp(errs.text, "fuzz.toml", 9) != 0) __builtin_trap();
  }
  cfg_errors_free(&errs);
  free(text);
  return 0;
}
