/* ckpt — checkpoint files.
 *
 * A checkpoint is a directory <run>/ckpt/<step>/ (step zero-padded to 12 digits) holding one
 * file per role instance (learner-0, modelsvc-0, rollout-<r>, actor-<a>, suffix .ckpt) and a
 * MANIFEST written last; a directory without a valid MANIFEST is not a checkpoint.
 *
 * Every file is a ckfile (base/ckfile.h: MessagePack, written durably). The MANIFEST (role
 * "manifest") adds: "config_hash", "epoch", "np", "actors", "rollout_workers", "shards", "files":
 * array of map { "name": str, "bytes": int, "sum": int } where sum is the 64-bit checksum of the
 * file's bytes (ckpt_sum), and last "seal": the checksum of all the MANIFEST's bytes before the
 * seal's value, as a 9-byte uint64, so a damaged MANIFEST is refused however it is damaged. */
#ifndef USBPO_CKPT_H
#define USBPO_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "ckfile.h"

/* the MANIFEST of a checkpoint whose n files are written: 0 when durable */
typedef struct {
  uint64_t config_hash;
  int64_t epoch, np, actors, rollout_workers, shards;
} CkptMeta;
int ckpt_write_manifest(const char *dir, int64_t step, const CkptMeta *meta, int n,
                        char (*names)[64], const int64_t *bytes, const uint64_t *sums, char *err,
                        size_t errlen);

/* directory names */
void ckpt_dir(const char *run_dir, int64_t step, char *out, size_t n);
/* validate a checkpoint directory against a config hash: 0 and the step, or -1 with the reason */
int ckpt_validate(const char *dir, uint64_t config_hash, int64_t *step, char *why, size_t n);
/* the newest valid checkpoint under run_dir/ckpt (older ones after refusals, each logged);
 * 0 with its directory, -1 if none */
int ckpt_find_latest(const char *run_dir, uint64_t config_hash, char *out, size_t n);
/* remove all but the newest `keep` complete checkpoints */
void ckpt_prune(const char *run_dir, int keep);

#endif
