/* lecture_utils whole surrogate: a CPython extension that evaluates a two-stage surrogate from
   physical points in one call — the features (the ratio and running transforms, the running
   table interpolated linearly in log10 f_a), both compiled stages and the hard or smooth
   combination.

     model(gate_fn, regressor_fn, transform, grid, response, slope, bounds, constants,
           rows_per_thread) -> capsule
         gate_fn, regressor_fn: addresses of the stage libraries' lu_predict_batch (both 0: a
         model that computes features only);
         transform: 0 raw, 1 ratio, 2 running; grid (g,), response (g, 9, 5), slope (g-1, 9, 5):
         float64 C-contiguous (the running table; ignored unless transform == 2);
         bounds (6, 2) float64: the training domain; constants (5,) float64: logit threshold,
         chi2_edge, penalty scale, ramp, reference scale of the effective couplings (GeV).
     run(capsule, points, mode, nthread[, max_rows]) -> (out, n_outside) or None
         points: float64 C-contiguous aligned (n, 6) or (6,), n >= 1; mode: see LU_MODE_*;
         out: float64 (n,) — (2, n) for LU_MODE_STAGES (gate log-odds, regressor chi2) —,
         float32 (n, n_features) for LU_MODE_FEATURES; n_outside: points outside the domain;
         None if a point is invalid (not finite, or f_a <= 0): the caller raises. With max_rows:
         NotImplemented, instead of an exception, for anything but a float64 C-contiguous
         aligned ndarray of shape (6,) or (n, 6) with 1 <= n <= max_rows.

   The arithmetic mirrors lecture_utils.surrogate (features in float64, rounded once to float32;
   the smooth combination in float64 in the same order); compile with -ffp-contract=off. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int64_t (*lu_batch_fn)(const float*, int64_t, int32_t, int32_t, int32_t, int64_t,
                               float*);

#define LU_NPAR 6      /* f_a, then five couplings */
#define LU_NC 5        /* couplings */
#define LU_NLOW 9      /* tabulated low-energy couplings: Re c_bs, Im c_bs, then seven more */
#define LU_MAXF (LU_NPAR + LU_NLOW - 1)
#define LU_BLOCK 256   /* rows per block: features, gate and regressor stay in the L1 cache */
#define LU_MAX_THREADS 256

enum { LU_RAW = 0, LU_RATIO = 1, LU_RUNNING = 2 };
enum { LU_MODE_HARD = 0, LU_MODE_SMOOTH = 1, LU_MODE_LOGIT = 2, LU_MODE_PROBABILITY = 3,
       LU_MODE_REGRESSOR = 4, LU_MODE_STAGES = 5, LU_MODE_FEATURES = 6, LU_N_MODES = 7 };

typedef struct {
  lu_batch_fn gate, reg;
  int transform, n_features, n_grid;
  double g0, step;
  double* grid;   /* (n_grid,) */
  double* resp;   /* (n_grid, LU_NLOW, LU_NC) */
  double* slope;  /* (n_grid - 1, LU_NLOW, LU_NC) */
  double lo[LU_NPAR], hi[LU_NPAR];
  double logit_threshold, chi2_edge, penalty, ramp, ref;
  int64_t rows_per_thread;
} lu_whole;

/* Features of one valid point p (6,) into x (n_features,). */
static void lu_features(const lu_whole* m, const double* p, float* x) {
  const double lf = log10(p[0]);
  x[0] = (float)lf;
  if (m->transform == LU_RAW) {
    for (int i = 1; i < LU_NPAR; ++i) x[i] = (float)p[i];
    return;
  }
  const double scale = m->ref / p[0];
  for (int i = 1; i < LU_NPAR; ++i) x[i] = (float)(p[i] * scale);
  if (m->transform != LU_RUNNING) return;
  /* the grid interval (the end intervals beyond the grid), then response + t * slope */
  const double q = (lf - m->g0) / m->step;
  const int k = !(q > 0.0) ? 0 : q >= (double)(m->n_grid - 2) ? m->n_grid - 2 : (int)q;
  const double t = lf - m->grid[k];
  const double* r = m->resp + (size_t)k * LU_NLOW * LU_NC;
  const double* s = m->slope + (size_t)k * LU_NLOW * LU_NC;
  double low[LU_NLOW];
  for (int j = 0; j < LU_NLOW; ++j) {
    double acc = 0.0;
    for (int c = 0; c < LU_NC; ++c)
      acc += (r[j * LU_NC + c] + t * s[j * LU_NC + c]) * p[1 + c];
    low[j] = acc;
  }
  x[LU_NPAR] = (float)(hypot(low[0], low[1]) * scale);  /* |c_bs| */
  for (int j = 2; j < LU_NLOW; ++j) x[LU_NPAR + j - 1] = (float)(low[j] * scale);
}

typedef struct {
  const lu_whole* m; const double* p; void* out; int64_t n, begin, end; int mode;
  int64_t outside, invalid;
} lu_job;

static void lu_run(lu_job* j) {
  const lu_whole* m = j->m;
  const int nf = m->n_features, mode = j->mode;
  float x[LU_BLOCK * LU_MAXF], g[LU_BLOCK], r[LU_BLOCK];
  int keep[LU_BLOCK];
  float* fout = (float*)j->out;
  double* out = (double*)j->out;
  for (int64_t b = j->begin; b < j->end; b += LU_BLOCK) {
    const int n = (int)(j->end - b < LU_BLOCK ? j->end - b : LU_BLOCK);
    float* xb = mode == LU_MODE_FEATURES ? fout + b * nf : x;
    for (int i = 0; i < n; ++i) {
      const double* p = j->p + (b + i) * LU_NPAR;
      int ok = p[0] > 0.0, in = 1;
      for (int c = 0; c < LU_NPAR; ++c) {
        ok &= isfinite(p[c]) != 0;
        in &= (p[c] >= m->lo[c]) & (p[c] <= m->hi[c]);
      }
      if (!ok) { j->invalid++; memset(xb + i * nf, 0, sizeof(float) * nf); continue; }
      j->outside += !in;
      lu_features(m, p, xb + i * nf);
    }
    if (mode == LU_MODE_FEATURES) continue;
    /* NaN features (only from extreme inputs such as 0 * inf) are missing values, as in
       xgboost's inplace_predict */
    if (mode != LU_MODE_REGRESSOR)
      m->gate(x, n, mode != LU_MODE_PROBABILITY, 1, 1, n, g);
    if (mode == LU_MODE_HARD) {  /* the regressor only where the gate accepts */
      int k = 0;
      for (int i = 0; i < n; ++i) {
        if ((double)g[i] >= m->logit_threshold) {
          if (k != i) memcpy(x + k * nf, x + i * nf, sizeof(float) * nf);
          keep[k++] = i;
        }
      }
      if (k > 0) m->reg(x, k, 0, 1, 1, k, r);
      double* o = out + b;
      for (int i = 0; i < n; ++i) o[i] = INFINITY;
      for (int i = 0; i < k; ++i) o[keep[i]] = (double)r[i];
      continue;
    }
    if (mode != LU_MODE_LOGIT && mode != LU_MODE_PROBABILITY)
      m->reg(x, n, 0, 1, 1, n, r);
    double* o = out + b;
    for (int i = 0; i < n; ++i) {
      switch (mode) {
        case LU_MODE_SMOOTH: {
          const double reg = (double)r[i];
          double d = m->logit_threshold - (double)g[i];
          if (!(d > 0.0)) d = 0.0;
          double ramp = d / m->ramp, room = m->chi2_edge - reg;
          if (ramp > 1.0) ramp = 1.0;
          if (!(room > 0.0)) room = 0.0;
          o[i] = (reg + ramp * room) + m->penalty * d;
          break;
        }
        case LU_MODE_LOGIT: case LU_MODE_PROBABILITY: o[i] = (double)g[i]; break;
        case LU_MODE_REGRESSOR: o[i] = (double)r[i]; break;
        default: o[i] = (double)g[i]; o[j->n + i] = (double)r[i]; break;
      }
    }
  }
}

static void* lu_thread(void* a) { lu_run((lu_job*)a); return NULL; }

static void lu_free(PyObject* capsule) {
  lu_whole* m = (lu_whole*)PyCapsule_GetPointer(capsule, "lu_whole");
  if (m == NULL) return;
  free(m->grid); free(m->resp); free(m->slope); free(m);
}

/* A float64 C-contiguous aligned array of `size` elements, or NULL (with a TypeError). */
static const double* lu_doubles(PyObject* o, npy_intp size, const char* what) {
  if (!PyArray_Check(o) || PyArray_TYPE((PyArrayObject*)o) != NPY_FLOAT64 ||
      !PyArray_ISCARRAY_RO((PyArrayObject*)o) || !PyArray_ISNOTSWAPPED((PyArrayObject*)o) ||
      PyArray_SIZE((PyArrayObject*)o) != size) {
    PyErr_Format(PyExc_TypeError, "model(): %s must be a C-contiguous float64 array of %zd "
                 "elements", what, (Py_ssize_t)size);
    return NULL;
  }
  return (const double*)PyArray_DATA((PyArrayObject*)o);
}

static double* lu_copy(const double* src, npy_intp n) {
  double* dst = (double*)malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  if (dst != NULL && n > 0) memcpy(dst, src, sizeof(double) * (size_t)n);
  return dst;
}

static PyObject* lu_model(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  if (nargs != 9) {
    PyErr_SetString(PyExc_TypeError, "model() takes 9 arguments");
    return NULL;
  }
  void* gate = PyLong_AsVoidPtr(args[0]);
  void* reg = PyLong_AsVoidPtr(args[1]);
  const long transform = PyLong_AsLong(args[2]);
  const long long rows = PyLong_AsLongLong(args[8]);
  if (PyErr_Occurred()) return NULL;
  if ((gate == NULL) != (reg == NULL) || transform < LU_RAW || transform > LU_RUNNING) {
    PyErr_SetString(PyExc_ValueError, "model(): one null function or unknown transform");
    return NULL;
  }
  if (!PyArray_Check(args[3])) {
    PyErr_SetString(PyExc_TypeError, "model(): grid must be an array");
    return NULL;
  }
  const npy_intp g = PyArray_SIZE((PyArrayObject*)args[3]);
  if (transform == LU_RUNNING && g < 2) {
    PyErr_SetString(PyExc_ValueError, "model(): the running table needs >= 2 grid nodes");
    return NULL;
  }
  const double* grid = lu_doubles(args[3], g, "grid");
  const double* resp = grid ? lu_doubles(args[4], g * LU_NLOW * LU_NC, "response") : NULL;
  const double* slope = resp ? lu_doubles(args[5], (g > 0 ? g - 1 : 0) * LU_NLOW * LU_NC,
                                          "slope") : NULL;
  const double* bounds = slope ? lu_doubles(args[6], 2 * LU_NPAR, "bounds") : NULL;
  const double* k = bounds ? lu_doubles(args[7], 5, "constants") : NULL;
  if (k == NULL) return NULL;
  lu_whole* m = (lu_whole*)calloc(1, sizeof(lu_whole));
  if (m == NULL) return PyErr_NoMemory();
  m->gate = (lu_batch_fn)gate;
  m->reg = (lu_batch_fn)reg;
  m->transform = (int)transform;
  m->n_features = LU_NPAR + (transform == LU_RUNNING ? LU_NLOW - 1 : 0);
  m->n_grid = (int)g;
  m->g0 = g > 0 ? grid[0] : 0.0;
  m->step = g > 1 ? (grid[g - 1] - grid[0]) / (double)(g - 1) : 1.0;
  m->grid = lu_copy(grid, g);
  m->resp = lu_copy(resp, g * LU_NLOW * LU_NC);
  m->slope = lu_copy(slope, (g > 0 ? g - 1 : 0) * LU_NLOW * LU_NC);
  for (int c = 0; c < LU_NPAR; ++c) { m->lo[c] = bounds[2 * c]; m->hi[c] = bounds[2 * c + 1]; }
  m->logit_threshold = k[0]; m->chi2_edge = k[1]; m->penalty = k[2]; m->ramp = k[3];
  m->ref = k[4];
  m->rows_per_thread = rows < 1 ? 1 : (int64_t)rows;
  PyObject* capsule = (m->grid && m->resp && m->slope)
      ? PyCapsule_New(m, "lu_whole", lu_free) : NULL;
  if (capsule == NULL) {
    free(m->grid); free(m->resp); free(m->slope); free(m);
    return PyErr_Occurred() ? NULL : PyErr_NoMemory();
  }
  return capsule;
}

static PyObject* lu_call(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  if (nargs != 4 && nargs != 5) {
    PyErr_SetString(PyExc_TypeError, "run() takes 4 or 5 arguments");
    return NULL;
  }
  lu_whole* m = (lu_whole*)PyCapsule_GetPointer(args[0], "lu_whole");
  if (m == NULL) return NULL;
  PyObject* po = args[1];
  if (nargs == 5) {  /* the fast path: anything but at most max_rows ready points is declined */
    const long long max_rows = PyLong_AsLongLong(args[4]);
    if (max_rows == -1 && PyErr_Occurred()) return NULL;
    if (!PyArray_CheckExact(po)) Py_RETURN_NOTIMPLEMENTED;
    PyArrayObject* a = (PyArrayObject*)po;
    const int d = PyArray_NDIM(a);
    if (PyArray_TYPE(a) != NPY_FLOAT64 || !PyArray_ISCARRAY_RO(a) || !PyArray_ISNOTSWAPPED(a) ||
        !(d == 1 || d == 2) || PyArray_DIM(a, d - 1) != LU_NPAR ||
        (d == 2 && (PyArray_DIM(a, 0) < 1 || PyArray_DIM(a, 0) > max_rows)))
      Py_RETURN_NOTIMPLEMENTED;
  }
  if (!PyArray_Check(po)) {
    PyErr_SetString(PyExc_TypeError, "run(): points must be a numpy array");
    return NULL;
  }
  PyArrayObject* pa = (PyArrayObject*)po;
  const int nd = PyArray_NDIM(pa);
  if (PyArray_TYPE(pa) != NPY_FLOAT64 || !PyArray_ISCARRAY_RO(pa) ||
      !PyArray_ISNOTSWAPPED(pa)) {
    PyErr_SetString(PyExc_TypeError, "run(): points must be a C-contiguous aligned float64 "
                    "array");
    return NULL;
  }
  if (!(nd == 1 || nd == 2) || PyArray_DIM(pa, nd - 1) != LU_NPAR ||
      (nd == 2 && PyArray_DIM(pa, 0) < 1)) {
    PyErr_SetString(PyExc_ValueError, "run(): points must have shape (n, 6), n >= 1, or (6,)");
    return NULL;
  }
  const long mode = PyLong_AsLong(args[2]);
  const long nthread_in = PyLong_AsLong(args[3]);
  if (PyErr_Occurred()) return NULL;
  if (mode < 0 || mode >= LU_N_MODES || (m->gate == NULL && mode != LU_MODE_FEATURES)) {
    PyErr_SetString(PyExc_ValueError, "run(): unknown mode, or a features-only model");
    return NULL;
  }
  const npy_intp n = nd == 2 ? PyArray_DIM(pa, 0) : 1;
  npy_intp dims[2] = {mode == LU_MODE_STAGES ? 2 : n,
                      mode == LU_MODE_STAGES ? n : m->n_features};
  const int out_nd = mode == LU_MODE_STAGES || mode == LU_MODE_FEATURES ? 2 : 1;
  PyObject* out = PyArray_SimpleNew(out_nd, dims,
                                    mode == LU_MODE_FEATURES ? NPY_FLOAT32 : NPY_FLOAT64);
  if (out == NULL) return NULL;
  int64_t most = (int64_t)n / m->rows_per_thread;
  int nthread = (int)(nthread_in < 1 ? 1 : nthread_in > LU_MAX_THREADS ? LU_MAX_THREADS
                                                                         : nthread_in);
  if (nthread > most) nthread = (int)(most < 1 ? 1 : most);
  lu_job jobs[LU_MAX_THREADS];
  const double* p = (const double*)PyArray_DATA(pa);
  void* op = PyArray_DATA((PyArrayObject*)out);
  if (nthread == 1) {  /* one point or a small batch: no thread, no GIL release */
    jobs[0] = (lu_job){m, p, op, (int64_t)n, 0, (int64_t)n, (int)mode, 0, 0};
    lu_run(&jobs[0]);
  } else {
    pthread_t threads[LU_MAX_THREADS];
    int started[LU_MAX_THREADS];
    const int64_t chunk = ((int64_t)n + nthread - 1) / nthread;
    for (int t = 0; t < nthread; ++t) {
      const int64_t b = t * chunk < n ? t * chunk : n;
      const int64_t e = (t + 1) * chunk < n ? (t + 1) * chunk : n;
      jobs[t] = (lu_job){m, p, op, (int64_t)n, b, e, (int)mode, 0, 0};
    }
    Py_BEGIN_ALLOW_THREADS
    for (int t = 1; t < nthread; ++t)
      started[t] = pthread_create(&threads[t], NULL, lu_thread, &jobs[t]) == 0;
    lu_run(&jobs[0]);
    for (int t = 1; t < nthread; ++t) {
      if (started[t]) pthread_join(threads[t], NULL); else lu_run(&jobs[t]);
    }
    Py_END_ALLOW_THREADS
  }
  int64_t outside = 0, invalid = 0;
  for (int t = 0; t < nthread; ++t) { outside += jobs[t].outside; invalid += jobs[t].invalid; }
  if (invalid) {
    Py_DECREF(out);
    Py_RETURN_NONE;
  }
  PyObject* count = PyLong_FromLongLong((long long)outside);
  if (count == NULL) { Py_DECREF(out); return NULL; }
  PyObject* result = PyTuple_Pack(2, out, count);
  Py_DECREF(out);
  Py_DECREF(count);
  return result;
}

static PyMethodDef lu_methods[] = {
  {"model", (PyCFunction)(void (*)(void))lu_model, METH_FASTCALL, "prepare a model (private)"},
  {"run", (PyCFunction)(void (*)(void))lu_call, METH_FASTCALL, "evaluate points (private)"},
  {NULL, NULL, 0, NULL}};

static struct PyModuleDef lu_module = {PyModuleDef_HEAD_INIT, "LU_MODULE_NAME", NULL, -1,
                                       lu_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_LU_MODULE_NAME(void) {
  import_array();
  return PyModule_Create(&lu_module);
}
