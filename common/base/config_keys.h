/* config_keys — the config schema shared by config.c (loading, validation, dump) and
 * config_keys.c (the key table and the built-in defaults). Private to common/base. */
#ifndef USBPO_CONFIG_KEYS_H
#define USBPO_CONFIG_KEYS_H

#include <stddef.h>

#include "config.h"

typedef enum { K_INT, K_FLOAT, K_BOOL, K_STR, K_ENUM, K_FARRAY } KType;

/* F_HASH_IF_SET: keys added after checkpoints existed; they enter the config hash only when
 * they differ from the built-in default, so a newer binary still resumes an older run whose
 * behaviour the key's default reproduces. */
enum { F_NOHASH = 1, F_REQUIRED = 2, F_MIN_EXCL = 4, F_HASH_IF_SET = 8 };

typedef struct {
  const char *key;
  KType type;
  size_t off;
  double min, max;          /* numbers; for arrays, every element */
  const char *const *names; /* enums */
  size_t len_off;           /* arrays: offset of the int length */
  int len_min, len_max;     /* arrays */
  int flags;
  const char *help;
} KeyDef;

#define O(f) offsetof(Config, f)
#define KI(k, f, lo, hi, fl, h)                                                                    \
  { k, K_INT, O(f), lo, hi, NULL, 0, 0, 0, fl, h }
#define KF(k, f, lo, hi, fl, h)                                                                    \
  { k, K_FLOAT, O(f), lo, hi, NULL, 0, 0, 0, fl, h }
#define KB(k, f, fl, h)                                                                            \
  { k, K_BOOL, O(f), 0, 0, NULL, 0, 0, 0, fl, h }
#define KS(k, f, fl, h)                                                                            \
  { k, K_STR, O(f), 0, 0, NULL, 0, 0, 0, fl, h }
#define KE(k, f, nm, fl, h)                                                                        \
  { k, K_ENUM, O(f), 0, 0, nm, 0, 0, 0, fl, h }
#define KA(k, f, lf, lo, hi, nmin, nmax, fl, h)                                                    \
  { k, K_FARRAY, O(f), lo, hi, NULL, O(lf), nmin, nmax, fl, h }
#define BIG 9.0e15

extern const KeyDef KEYS[];
extern const int NKEYS;
extern const char *const ENV_NAMES[], *const ALGO_NAMES[], *const MODE_NAMES[];
extern const char *const FT_NAMES[], *const FT_TERMS_NAMES[], *const CF_NAMES[];
extern const char *const FT_MOMENTS_NAMES[];
extern const char *const TERM_NAMES[], *const LEVEL_NAMES[];

#endif
