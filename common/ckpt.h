/* ckpt — checkpoint files.
 *
 * A checkpoint is a directory <run>/ckpt/<step>/ (step zero-padded to 12 digits) holding one
 * file per role instance (learner-0, modelsvc-0, rollout-<r>, actor-<a>, suffix .ckpt) and a
 * MANIFEST written last; a directory without a valid MANIFEST is not a checkpoint.
 *
 * Every file is MessagePack, streamed to a temporary name, fsync'ed, renamed into place, and the
 * directory fsync'ed (Redis's durable write). File layout, field by field:
 *   map {
 *     "format": "usbpo-ckpt", "ver": 1, "role": str, "idx": int, "step": int,
 *     then the role's own fields: name -> int | float64 | array
 *   }
 *   arrays as in messages: map { "dtype", "shape", "data": bin }.
 * The MANIFEST (role "manifest") adds: "config_hash", "epoch", "np", "actors", "rollout_workers",
 * "shards", "files": array of map { "name": str, "bytes": int, "sum": int } where sum is the
 * 64-bit checksum of the file's bytes (ckpt_sum), and last "seal": the checksum of all the
 * MANIFEST's bytes before the seal's value, as a 9-byte uint64, so a damaged MANIFEST is refused
 * however it is damaged. */
#ifndef USBPO_CKPT_H
#define USBPO_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define CKPT_VERSION 1

typedef struct {
  uint64_t h;
  uint8_t tail[8];
  unsigned nt;
} CkptSum;
void ckpt_sum_init(CkptSum *s);
void ckpt_sum_add(CkptSum *s, const void *data, size_t n);
uint64_t ckpt_sum_end(const CkptSum *s);
uint64_t ckpt_sum(const void *data, size_t n); /* one shot: the same as any split */

typedef struct CkptWriter CkptWriter;
/* dir/name written through dir/.name.tmp; nfields = the role's own fields */
CkptWriter *ckw_open(const char *dir, const char *name, const char *role, int idx, int64_t step,
                     int nfields, char *err, size_t errlen);
void ckw_int(CkptWriter *w, const char *key, int64_t v);
void ckw_f64(CkptWriter *w, const char *key, double v);
void ckw_arr(CkptWriter *w, const char *key, int dtype, const void *data, int64_t rows, int64_t cols);
/* begin an array of n maps of (name, bytes, sum) (MANIFEST only) */
void ckw_files(CkptWriter *w, const char *key, int n);
void ckw_file_entry(CkptWriter *w, const char *name, int64_t bytes, uint64_t sum);
/* the last field: "seal", the checksum of every byte before it (the MANIFEST's own guard) */
void ckw_seal(CkptWriter *w);
/* 0 when durable; bytes and checksum of the file */
int ckw_close(CkptWriter *w, int64_t *bytes, uint64_t *sum, char *err, size_t errlen);

typedef struct CkptFile CkptFile;
/* the whole file, structure-checked; NULL with the reason */
CkptFile *ckr_open(const char *path, const char *role, int idx, char *err, size_t errlen);
void ckr_close(CkptFile *f);
/* 1 if the file carries a seal (ckr_open has verified it) */
int ckr_sealed(const CkptFile *f);
int64_t ckr_step(const CkptFile *f);
/* 0, or -1 (missing / wrong kind) */
int ckr_int(CkptFile *f, const char *key, int64_t *v);
int ckr_f64(CkptFile *f, const char *key, double *v);
/* an array's shape (-1 if missing or wrong dtype); copy checks the shape first */
int ckr_arr_shape(CkptFile *f, const char *key, int dtype, int64_t *rows, int64_t *cols);
int ckr_arr(CkptFile *f, const char *key, int dtype, int64_t rows, int64_t cols, void *dst);
/* MANIFEST: the listed files */
int ckr_files(CkptFile *f, int max, char (*names)[64], int64_t *bytes, uint64_t *sums);

/* helpers for roles: fail fast with the file and the field */
void ckr_need_int(CkptFile *f, const char *path, const char *key, int64_t *v);
void ckr_need_f64(CkptFile *f, const char *path, const char *key, double *v);
void ckr_need_arr(CkptFile *f, const char *path, const char *key, int dtype, int64_t rows,
                  int64_t cols, void *dst);

/* an array given in two runs of rows (a ring buffer's logical order) */
void ckw_arr2(CkptWriter *w, const char *key, int dtype, const void *a, int64_t rows_a,
              const void *b, int64_t rows_b, int64_t cols);
/* a raw byte blob (RNG states etc.) as a u8 array */
static inline void ckw_bytes(CkptWriter *w, const char *key, const void *p, int64_t n) {
  ckw_arr(w, key, DT_U8, p, n, 1);
}

/* FIFO buffers: 7 fields under a prefix (capacity, rows pushed, the five columns in logical
 * order); load makes a new buffer (*out may be NULL for "none" when prefix_cap is 0) */
struct Buffer_;
#include "buffer.h"
#define CKPT_BUF_FIELDS 7
void ckpt_buf_save(CkptWriter *w, const char *prefix, const Buffer *b);
Buffer *ckpt_buf_load(CkptFile *f, const char *path, const char *prefix, int obs_dim, int act_dim);

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
