/* ckfile — the checkpoint file format: one MessagePack map per file, written durably
 * (durable.h) and read back whole with every field checked. Core modules save and load their
 * state with it; the checkpoint directories, their MANIFEST and validation are the runtime's
 * (runtime/ckpt.h).
 *
 * File layout, field by field:
 *   map {
 *     "format": "usbpo-ckpt", "ver": 1, "role": str, "idx": int, "step": int,
 *     then the owner's own fields: name -> int | float64 | array
 *   }
 *   arrays as in messages: map { "dtype", "shape", "data": bin }.
 * A file may end with "seal": the checksum of all its bytes before the seal's value, as a 9-byte
 * uint64 (the MANIFEST's guard). */
#ifndef USBPO_CKFILE_H
#define USBPO_CKFILE_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "dtype.h"

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
void ckw_arr(CkptWriter *w, const char *key, int dtype, const void *data, int64_t rows,
             int64_t cols);
/* begin an array of n maps of (name, bytes, sum) (MANIFEST only) */
void ckw_files(CkptWriter *w, const char *key, int n);
void ckw_file_entry(CkptWriter *w, const char *name, int64_t bytes, uint64_t sum);
/* the last field: "seal", the checksum of every byte before it (the MANIFEST's own guard) */
void ckw_seal(CkptWriter *w);
/* how many fields save writes (it is run on a writer that only counts): the nfields of
 * ckw_open, so no writer keeps a hand count */
typedef void (*CkptSaveFn)(void *obj, CkptWriter *w);
int ckw_count(CkptSaveFn save, void *obj);
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
#define CKPT_BUF_FIELDS 7
void ckpt_buf_save(CkptWriter *w, const char *prefix, const Buffer *b);
Buffer *ckpt_buf_load(CkptFile *f, const char *path, const char *prefix, int obs_dim, int act_dim);

#endif
