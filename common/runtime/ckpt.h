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
  uint64_t run_id;         /* the run's identity (runlog.h), 0 = none */
  const char *config_text; /* the resolved configuration, NULL = none */
  const char *blas_kernel; /* OpenBLAS's kernel the numbers were computed with, NULL = none */
  const char *cpu;         /* the CPU's vector extensions ("avx2 avx512f"), NULL = none */
} CkptMeta;
int ckpt_write_manifest(const char *dir, int64_t step, const CkptMeta *meta, int n,
                        char (*names)[64], const int64_t *bytes, const uint64_t *sums, char *err,
                        size_t errlen);

/* directory names */
void ckpt_dir(const char *run_dir, int64_t step, char *out, size_t n);
/* what a checkpoint directory is to this run */
enum { CKPT_OK, CKPT_TORN, CKPT_DAMAGED, CKPT_OTHER_CONFIG, CKPT_FOREIGN, CKPT_NSTATUS };
/* the checks a resume relies on: a regular, sealed MANIFEST whose step is the directory's name,
 * this configuration's hash, this run's identity (run_id 0: not checked; a MANIFEST without
 * one, written before run ids, passes), every listed file regular with its size and checksum */
int ckpt_check(const char *dir, uint64_t config_hash, uint64_t run_id, int64_t *step, char *why,
               size_t n);
/* the same, 0 for CKPT_OK else -1 */
int ckpt_validate(const char *dir, uint64_t config_hash, int64_t *step, char *why, size_t n);
/* the resolved configuration a MANIFEST records (malloc'ed), or NULL */
char *ckpt_config_text(const char *dir);
/* the BLAS kernel and CPU extensions a MANIFEST records: 0, or -1 (a checkpoint from before
 * they were recorded, or none); either output may be NULL */
int ckpt_blas_kernel(const char *dir, char *kernel, size_t kn, char *cpu, size_t cn);

/* every checkpoint under run_dir/ckpt, newest first, until a valid one (each refusal logged) */
typedef struct {
  char latest[1200];       /* the newest valid checkpoint, "" if none */
  char other_config[1200]; /* the newest refused for another configuration, "" if none */
  char foreign[1200];      /* the newest refused as another run's, "" if none */
  int refused[CKPT_NSTATUS];
  char error[1300]; /* when ckpt/ cannot be read */
} CkptScan;
int ckpt_scan(const char *run_dir, uint64_t config_hash, uint64_t run_id, CkptScan *sc);
/* the newest valid checkpoint: 0 with its directory, -1 if none */
int ckpt_find_latest(const char *run_dir, uint64_t config_hash, char *out, size_t n);
/* the newest valid checkpoint taken at or before max_steps env steps (the directory's name,
 * exploration included): 0 with its directory, -1 if none */
int ckpt_find_at(const char *run_dir, uint64_t config_hash, long long max_steps, char *out,
                 size_t n);
/* remove all but the newest `keep` complete checkpoints of this configuration, and torn ones;
 * a checkpoint of another configuration is never removed */
void ckpt_prune(const char *run_dir, int keep, uint64_t config_hash);
/* remove a checkpoint directory that failed to complete */
void ckpt_remove_torn(const char *dir);

#endif
