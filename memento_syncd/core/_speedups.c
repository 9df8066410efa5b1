/* Optional C speed-ups of the similarity core (memento_syncd.core.speedups loads them).

   Pure code over plain values, each part the exact twin of Python code that the test
   suite compares it with (tests/core/test_speedups.py):

   - WordKeys.analyse (csrc/wordkeys.h): the ASCII branch of similarity.word_set followed
     by the memo look-ups and sort of token_order.FrozenOrder.analyse, without making a
     Python string per word: a word is a maximal run of ASCII letters and digits,
     lowercased.
   - in_at_least: similarity.in_at_least over posting lists (buffers of C ints or
     long longs, as array("i") and array("q") hold them).
   - narrow: the fast path of store.postings._narrow (stored ids as 4-byte ints).

   No I/O. A WordKeys is a hash table owned by one FrozenOrder; in_at_least keeps one
   scratch table of counts between calls (all zero between them). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "csrc/sort.h"
#include "csrc/wordkeys.h"

/* ------------------------------------------------------------------ in_at_least */

/* Values below this are counted in a table indexed by value (one byte each, kept between
   calls and zeroed after each); others, or more than 255 lists, are sorted instead. */
#define DENSE_LIMIT (1 << 24)

/* Scratch, one byte per row id up to the largest seen (at most 16 MB, never given back);
   the GIL is held from the first count to the last reset, with no Python object made. */
static unsigned char *dense_counts = NULL;
static Py_ssize_t dense_size = 0;

/* The values of every list, in one buffer of int64. */
static int
gather(PyObject *seq, Int64Vec *all)
{
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), &view, PyBUF_FORMAT) < 0) {
            return -1;
        }
        const char *format = view.format ? view.format : "B";
        if (format[0] == '@' || format[0] == '=') {
            format++;
        }
        int wide = strcmp(format, "q") == 0 || (strcmp(format, "l") == 0 && sizeof(long) == 8);
        int narrow = strcmp(format, "i") == 0 || (strcmp(format, "l") == 0 && sizeof(long) == 4);
        if ((!wide && !narrow) || view.itemsize != (wide ? 8 : 4)) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_TypeError, "in_at_least: lists must hold C ints or long longs");
            return -1;
        }
        Py_ssize_t items = view.len / view.itemsize;
        if (all->len + items > all->cap) {
            Py_ssize_t cap = all->cap ? all->cap : 1024;
            while (cap < all->len + items) {
                cap *= 2;
            }
            int64_t *data = PyMem_Realloc(all->data, (size_t)cap * sizeof(int64_t));
            if (data == NULL) {
                PyBuffer_Release(&view);
                PyErr_NoMemory();
                return -1;
            }
            all->data = data;
            all->cap = cap;
        }
        int64_t *out = all->data + all->len;
        if (wide) {
            memcpy(out, view.buf, (size_t)items * sizeof(int64_t));
        }
        else {
            const int32_t *in = view.buf;
            for (Py_ssize_t j = 0; j < items; j++) {
                out[j] = in[j];
            }
        }
        all->len += items;
        PyBuffer_Release(&view);
    }
    return 0;
}

/* Values held `needed` times, counted in the dense table: each reaches `needed` once. */
static int
count_dense(const Int64Vec *all, Py_ssize_t needed, int64_t high, Int64Vec *chosen)
{
    if (high >= dense_size) {
        Py_ssize_t size = dense_size ? dense_size : 1 << 16;
        while (size <= high) {
            size *= 2;
        }
        unsigned char *counts = PyMem_Calloc((size_t)size, 1);
        if (counts == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyMem_Free(dense_counts);
        dense_counts = counts;
        dense_size = size;
    }
    int failed = 0;
    for (Py_ssize_t i = 0; i < all->len; i++) {
        unsigned char *c = &dense_counts[all->data[i]];
        if (++*c == (unsigned char)needed && !failed) {
            failed = vec_push(chosen, all->data[i]) < 0;
        }
    }
    for (Py_ssize_t i = 0; i < all->len; i++) { /* zeroed again, even on failure */
        dense_counts[all->data[i]] = 0;
    }
    if (failed) {
        return -1;
    }
    sort_int64(chosen->data, chosen->len);
    return 0;
}

/* The same by sorting: a value held `needed` times sits `needed - 1` places ahead of
   itself in the sorted concatenation (each list holds a value at most once). */
static int
count_sorted(Int64Vec *all, Py_ssize_t needed, Int64Vec *chosen)
{
    sort_int64(all->data, all->len);
    for (Py_ssize_t i = 0; i + needed - 1 < all->len; i++) {
        int64_t v = all->data[i];
        if (all->data[i + needed - 1] != v) {
            continue;
        }
        if (vec_push(chosen, v) < 0) {
            return -1;
        }
        while (i + 1 < all->len && all->data[i + 1] == v) {
            i++;
        }
    }
    return 0;
}

static PyObject *
in_at_least(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *lists;
    Py_ssize_t needed;
    if (!PyArg_ParseTuple(args, "On:in_at_least", &lists, &needed)) {
        return NULL;
    }
    if (needed < 1) {
        needed = 1;
    }
    PyObject *seq = PySequence_Fast(lists, "in_at_least: lists must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    Int64Vec all = {NULL, 0, 0}, chosen = {NULL, 0, 0};
    PyObject *found = NULL;
    if (gather(seq, &all) < 0) {
        goto done;
    }
    int64_t low = 0, high = 0;
    for (Py_ssize_t i = 0; i < all.len; i++) {
        int64_t v = all.data[i];
        low = v < low ? v : low;
        high = v > high ? v : high;
    }
    int dense = low >= 0 && high < DENSE_LIMIT && needed <= 255 &&
                PySequence_Fast_GET_SIZE(seq) <= 255;
    if ((dense ? count_dense(&all, needed, high, &chosen) : count_sorted(&all, needed, &chosen)) <
        0) {
        goto done;
    }
    found = PyList_New(chosen.len);
    if (found == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < chosen.len; i++) {
        PyObject *value = PyLong_FromLongLong(chosen.data[i]);
        if (value == NULL) {
            Py_CLEAR(found);
            goto done;
        }
        PyList_SET_ITEM(found, i, value);
    }
done:
    PyMem_Free(all.data);
    PyMem_Free(chosen.data);
    Py_DECREF(seq);
    return found;
}

/* ------------------------------------------------------------------ narrow */

/* Stored postings are 8-byte little-endian ids: as native 4-byte ints if every id is a
   non-negative int32, else None. */
static PyObject *
narrow(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (view.len % 8) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "narrow: stored ids are 8 bytes each");
        return NULL;
    }
    Py_ssize_t n = view.len / 8;
    const unsigned char *in = view.buf;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * 4);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int32_t *ids = (int32_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *b = in + 8 * i;
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--) {
            v = v << 8 | b[k];
        }
        if (v >= (uint64_t)1 << 31) { /* past int32, or negative as a signed 64-bit id */
            Py_DECREF(out);
            PyBuffer_Release(&view);
            Py_RETURN_NONE;
        }
        ids[i] = (int32_t)v;
    }
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef module_methods[] = {
    {"in_at_least", in_at_least, METH_VARARGS,
     "in_at_least(lists, needed): the values held by at least `needed` of the lists, "
     "ascending."},
    {"narrow", narrow, METH_O,
     "narrow(blob): 8-byte little-endian ids as native 4-byte ints, or None if one does "
     "not fit."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "memento_syncd.core._speedups",
    .m_doc = "Optional C speed-ups of the similarity core (see memento_syncd.core.speedups).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&WordKeysType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&speedups_module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&WordKeysType);
    if (PyModule_AddObject(m, "WordKeys", (PyObject *)&WordKeysType) < 0) {
        Py_DECREF(&WordKeysType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
