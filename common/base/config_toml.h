/* config_toml — the C-ABI face of toml++: parse a TOML text into a flat list of leaf items
 * ("section.key" plus value and source positions). Only this file's .cpp knows C++. */
#ifndef USBPO_CONFIG_TOML_H
#define USBPO_CONFIG_TOML_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  CT_INT = 0,
  CT_FLOAT = 1,
  CT_BOOL = 2,
  CT_STRING = 3,
  CT_ARRAY = 4,   /* of numbers (arr, arr_len); arr_bad = 1 if an element was not a number */
  CT_TABLE = 5,   /* a table where a value was expected (too deep) */
  CT_OTHER = 6,   /* date/time or a mixed array */
  CT_STRARRAY = 7 /* an array of strings (strs, nstrs) */
} CfgTomlType;

typedef struct {
  char key[160]; /* dotted path, e.g. "sac.lr"; top-level values have no dot */
  int type;
  long long i;
  double f;
  int b;
  char *s;
  size_t s_len; /* bytes of s (a NUL inside makes strlen(s) shorter) */
  double *arr;
  int arr_len;
  int arr_bad;
  char **strs;
  int nstrs;
  int key_line, key_col; /* where the key is written */
  int val_line, val_col; /* where the value starts */
} CfgTomlItem;

/* Arrays of tables ([[name]]) flatten as "name.<index>.<key>". 0 on success (*items malloc'd, free
 * with cfg_toml_free); -1 on a syntax error, with "line:col: description" in err. */
int cfg_toml_parse(const char *text, const char *source, CfgTomlItem **items, int *nitems,
                   char *err, size_t errlen, int *err_line, int *err_col);
void cfg_toml_free(CfgTomlItem *items, int nitems);

#ifdef __cplusplus
}
#endif

#endif
