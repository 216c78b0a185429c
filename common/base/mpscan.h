/* mpscan — a structural check of raw bytes as exactly one MessagePack object: every container
 * and string length bounded by the bytes left, nesting bounded. Run before msgpack-c unpacks
 * anything from outside (messages, checkpoint files), so a hostile length cannot make it
 * allocate or read out of bounds. */
#ifndef USBPO_MPSCAN_H
#define USBPO_MPSCAN_H

#include <stddef.h>
#include <stdint.h>

/* 0 when buf holds exactly one well-formed object, else -1 */
int mp_scan(const uint8_t *buf, size_t len);

#endif
