/* lecture_utils fast caller: a CPython extension with one function,
     call(fn, x, out, margin, nan_missing, nthread, min_rows_per_thread) -> int,
   that checks x (2-D C-contiguous aligned float32, at least one row) and out (1-D writable
   C-contiguous aligned float32 of len(x)) with numpy's C API and then calls
   fn = the address of a library's lu_predict_batch, with the GIL released. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <stdint.h>

typedef int64_t (*lu_batch_fn)(const float*, int64_t, int32_t, int32_t, int32_t, int64_t,
                               float*);

static int lu_ok(PyObject* o, int ndim, int writable) {
  if (!PyArray_Check(o)) return 0;
  PyArrayObject* a = (PyArrayObject*)o;
  const int need = NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                   (writable ? NPY_ARRAY_WRITEABLE : 0);
  return PyArray_NDIM(a) == ndim && PyArray_TYPE(a) == NPY_FLOAT32 &&
         PyArray_ISNOTSWAPPED(a) && (PyArray_FLAGS(a) & need) == need;
}

static PyObject* lu_call(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  if (nargs != 7) {
    PyErr_SetString(PyExc_TypeError, "call() takes 7 arguments");
    return NULL;
  }
  if (!lu_ok(args[1], 2, 0) || !lu_ok(args[2], 1, 1)) {
    PyErr_SetString(PyExc_TypeError, "call(): x must be a 2-D and out a writable 1-D "
                    "C-contiguous aligned float32 array");
    return NULL;
  }
  PyArrayObject* x = (PyArrayObject*)args[1];
  PyArrayObject* out = (PyArrayObject*)args[2];
  const npy_intp n = PyArray_DIM(x, 0);
  if (PyArray_DIM(out, 0) != n || n < 1) {
    PyErr_SetString(PyExc_ValueError, "call(): out must have len(x) >= 1 elements");
    return NULL;
  }
  void* fn = PyLong_AsVoidPtr(args[0]);
  const long margin = PyLong_AsLong(args[3]), nan_missing = PyLong_AsLong(args[4]);
  const long nthread = PyLong_AsLong(args[5]);
  const long long min_rows = PyLong_AsLongLong(args[6]);
  if (PyErr_Occurred()) return NULL;
  if (fn == NULL) {
    PyErr_SetString(PyExc_ValueError, "call(): null function");
    return NULL;
  }
  const float* xp = (const float*)PyArray_DATA(x);
  float* op = (float*)PyArray_DATA(out);
  int64_t bad;
  Py_BEGIN_ALLOW_THREADS
  bad = ((lu_batch_fn)fn)(xp, (int64_t)n, (int32_t)margin, (int32_t)nan_missing,
                          (int32_t)nthread, (int64_t)min_rows, op);
  Py_END_ALLOW_THREADS
  return PyLong_FromLongLong((long long)bad);
}

static PyMethodDef lu_methods[] = {
  {"call", (PyCFunction)(void (*)(void))lu_call, METH_FASTCALL, "predict a batch (private)"},
  {NULL, NULL, 0, NULL}};

static struct PyModuleDef lu_module = {PyModuleDef_HEAD_INIT, "LU_MODULE_NAME", NULL, -1,
                                       lu_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_LU_MODULE_NAME(void) {
  import_array();
  return PyModule_Create(&lu_module);
}
