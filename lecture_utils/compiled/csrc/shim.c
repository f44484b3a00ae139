/* lecture_utils batch shim: one call predicts a whole C-contiguous float32 matrix.
   Included by the generated file lu_shim.c, which defines before it:
     LU_NUM_FEATURE, LU_ABI_VERSION, LU_BLOCK (rows per block; 0: row by row through predict()),
     and, if LU_BLOCK > 0: LU_N_UNITS, the array lu_units[] of the tree units predict_unit<k>
     in the order predict() calls them, and lu_base(result) = predict()'s base-score step. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>

#if N_TARGET * MAX_N_CLASS != 1
#error "lecture_utils compiles single-output models only"
#endif
#define LU_API __attribute__((visibility("default")))
#define LU_MAX_THREADS 256

typedef struct {
  const float* x; float* out; int64_t begin, end; int margin, nan_missing; int64_t nan_rows;
} lu_job;

/* Copy row i into an Entry row; NaN becomes a missing value. Returns 1 if the row is to be
   skipped (it holds NaN and NaN is not allowed). */
static int lu_load(const lu_job* j, int64_t i, union Entry* row) {
  const float* xi = j->x + i * (int64_t)LU_NUM_FEATURE;
  int has_nan = 0;
  for (int k = 0; k < LU_NUM_FEATURE; ++k) {
    const float v = xi[k];
    if (isnan(v)) { has_nan = 1; row[k].missing = -1; } else { row[k].fvalue = v; }
  }
  return has_nan && !j->nan_missing;
}

/* Row by row through tl2cgen's predict(). */
static void lu_run_rows(lu_job* j) {
  union Entry row[LU_NUM_FEATURE];
  for (int64_t i = j->begin; i < j->end; ++i) {
    if (lu_load(j, i, row)) { j->nan_rows++; j->out[i] = NAN; continue; }
    float result[1] = {0.0f};
    predict(row, j->margin, result);
    j->out[i] = result[0];
  }
}

#if LU_BLOCK > 0
/* Blocked traversal: a block of rows goes through one unit of trees before the next unit, so
   the unit's code stays in the instruction cache. Per row, the additions happen in the same
   order as in predict(), so the results are identical to it. */
static void lu_run_blocked(lu_job* j) {
  union Entry rows[LU_BLOCK][LU_NUM_FEATURE];
  unsigned char skip[LU_BLOCK];
  for (int64_t b0 = j->begin; b0 < j->end; b0 += LU_BLOCK) {
    const int m = (int)(j->end - b0 < LU_BLOCK ? j->end - b0 : LU_BLOCK);
    float* out = j->out + b0;
    for (int i = 0; i < m; ++i) {
      skip[i] = (unsigned char)lu_load(j, b0 + i, rows[i]);
      j->nan_rows += skip[i];
      out[i] = 0.0f;
    }
    for (int u = 0; u < LU_N_UNITS; ++u) {
      void (*const unit)(union Entry*, float*) = lu_units[u];
      for (int i = 0; i < m; ++i) if (!skip[i]) unit(rows[i], out + i);
    }
    for (int i = 0; i < m; ++i) {
      if (skip[i]) { out[i] = NAN; continue; }
      lu_base(out + i);
      if (!j->margin) postprocess(out + i);
    }
  }
}

/* One row has no code to reuse: it skips the blocked loop's bookkeeping. */
static void lu_run(lu_job* j) {
  if (j->end - j->begin > 1) lu_run_blocked(j); else lu_run_rows(j);
}
#else
static void lu_run(lu_job* j) { lu_run_rows(j); }
#endif

static void* lu_thread(void* p) { lu_run((lu_job*)p); return NULL; }

LU_API int32_t lu_abi_version(void) { return LU_ABI_VERSION; }
LU_API int32_t lu_num_feature(void) { return LU_NUM_FEATURE; }

/* Predict n rows of x (n x LU_NUM_FEATURE, row-major) into out (n) on up to nthread threads
   (at most one per min_rows_per_thread rows). Returns the number of rows holding NaN (those rows
   get NaN) when nan_missing == 0, else 0 (NaN = missing value). */
LU_API int64_t lu_predict_batch(const float* x, int64_t n, int32_t margin, int32_t nan_missing,
                                int32_t nthread, int64_t min_rows_per_thread, float* out) {
  if (n <= 0) return 0;
  if (min_rows_per_thread < 1) min_rows_per_thread = 1;
  const int64_t most = n / min_rows_per_thread;
  if (nthread > most) nthread = (int32_t)most;
  if (nthread > LU_MAX_THREADS) nthread = LU_MAX_THREADS;
  if (nthread < 1) nthread = 1;
  lu_job jobs[LU_MAX_THREADS];
  pthread_t threads[LU_MAX_THREADS];
  int started[LU_MAX_THREADS];
  const int64_t chunk = (n + nthread - 1) / nthread;
  for (int t = 0; t < nthread; ++t) {
    jobs[t].x = x; jobs[t].out = out; jobs[t].margin = margin;
    jobs[t].nan_missing = nan_missing; jobs[t].nan_rows = 0;
    jobs[t].begin = t * chunk < n ? t * chunk : n;
    jobs[t].end = (t + 1) * chunk < n ? (t + 1) * chunk : n;
  }
  for (int t = 1; t < nthread; ++t)
    started[t] = pthread_create(&threads[t], NULL, lu_thread, &jobs[t]) == 0;
  lu_run(&jobs[0]);
  int64_t nan_rows = jobs[0].nan_rows;
  for (int t = 1; t < nthread; ++t) {
    if (started[t]) pthread_join(threads[t], NULL); else lu_run(&jobs[t]);
    nan_rows += jobs[t].nan_rows;
  }
  return nan_rows;
}
