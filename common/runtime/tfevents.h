/* tfevents — TensorBoard event files, written without TensorFlow.
 *
 * A file `events.out.tfevents.<unix time>.<host>` is a sequence of TFRecords:
 *   uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes | length bytes of data |
 *   uint32 masked CRC32C of the data,
 * with masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (CRC32C: Castagnoli polynomial,
 * reflected, initial and final XOR 0xffffffff). Each record's data is a serialised
 * tensorflow.Event protocol buffer; we write two kinds:
 *   the first: { 1: wall_time (double), 3: file_version = "brain.Event:2" }
 *   then:      { 1: wall_time, 2: step (varint), 5: Summary { 1: Value { 1: tag (string),
 *                                                                  2: simple_value (float) } ... }
 * } One scalar event per epoch carries every metrics column (non-finite values are left out). */
#ifndef USBPO_TFEVENTS_H
#define USBPO_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *data,
                size_t n); /* crc32c(0, "123456789", 9) = 0xe3069283 */
uint32_t tfe_masked_crc(const void *data, size_t n);

/* encoders (for the writer and the tests): bytes written to buf, 0 if cap is too small */
size_t tfe_event_version(uint8_t *buf, size_t cap, double wall_time);
size_t tfe_event_scalars(uint8_t *buf, size_t cap, double wall_time, int64_t step, int n,
                         const char *const *tags, const double *values);
/* a TFRecord around data: 16 + n bytes into out */
size_t tfe_record(uint8_t *out, size_t cap, const uint8_t *data, size_t n);

typedef struct TfEvents TfEvents;
/* a new file in dir (the version event first), or, resuming, the existing one appended to */
TfEvents *tfe_open(const char *dir, int resume, char *err, size_t errlen);
int tfe_scalars(TfEvents *t, double wall_time, int64_t step, int n, const char *const *tags,
                const double *values);
int64_t tfe_offset(TfEvents *t); /* bytes written so far (flushed) */
void tfe_close(TfEvents *t);
/* the events file of a run directory (the oldest if several): 0 and its path, or -1 */
int tfe_find(const char *dir, char *path, size_t n);

#endif
