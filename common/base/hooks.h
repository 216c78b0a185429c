/* hooks — the test hooks, in one place: environment variables USBPO_TEST_<NAME> that the tests
 * set to make a fault happen where it cannot be caused from outside (a diverging update, a
 * failing fsync, a stalled rank, an old metrics layout). Every hook is listed in the table of
 * hooks.c and in tests/README.md; asking for an unlisted one is a programming error. A run
 * without USBPO_TEST_* in its environment never takes a hooked path. */
#ifndef USBPO_HOOKS_H
#define USBPO_HOOKS_H

#include <stdint.h>

/* the value of USBPO_TEST_<name> as an integer, or dflt when unset */
int64_t hook_int(const char *name, int64_t dflt);
/* the value as text, or NULL when unset */
const char *hook_str(const char *name);

#endif
