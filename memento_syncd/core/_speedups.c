/* Optional C speed-ups of the similarity core (memento_syncd.core.speedups loads them).

   Two pure functions of plain values, each the exact twin of a Python function that
   the test suite compares it with:

   - WordKeys.analyse: the ASCII branch of similarity.word_set followed by the memo
     look-ups and sort of token_order.FrozenOrder.analyse, without making a Python
     string per word: a word is a maximal run of ASCII letters and digits, lowercased.
   - in_at_least: similarity.in_at_least over posting lists (buffers of C ints or
     long longs, as array("i") and array("q") hold them).
   - narrow: the fast path of store.postings._narrow (stored ids as 4-byte ints).

   No I/O, no global state: a WordKeys is a hash table owned by one FrozenOrder. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------ sorting int64 */

static void
insertion_sort(int64_t *a, Py_ssize_t n)
{
    for (Py_ssize_t i = 1; i < n; i++) {
        int64_t v = a[i];
        Py_ssize_t j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static void
sift_down(int64_t *a, Py_ssize_t start, Py_ssize_t n)
{
    Py_ssize_t root = start;
    for (;;) {
        Py_ssize_t child = 2 * root + 1;
        if (child >= n) {
            return;
        }
        if (child + 1 < n && a[child] < a[child + 1]) {
            child++;
        }
        if (a[root] >= a[child]) {
            return;
        }
        int64_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void
heap_sort(int64_t *a, Py_ssize_t n)
{
    for (Py_ssize_t i = n / 2 - 1; i >= 0; i--) {
        sift_down(a, i, n);
    }
    for (Py_ssize_t end = n - 1; end > 0; end--) {
        int64_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

/* Introsort: quicksort (median of three), heapsort past a depth limit (no quadratic
   case, whatever the input), insertion sort for short runs. */
static void
intro_sort(int64_t *a, Py_ssize_t n, int depth)
{
    while (n > 16) {
        if (depth-- == 0) {
            heap_sort(a, n);
            return;
        }
        int64_t x = a[0], y = a[n / 2], z = a[n - 1];
        int64_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        Py_ssize_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < pivot) {
                i++;
            }
            while (a[j] > pivot) {
                j--;
            }
            if (i >= j) {
                break;
            }
            int64_t t = a[i];
            a[i] = a[j];
            a[j] = t;
            i++;
            j--;
        }
        /* a[0..j] <= pivot <= a[j+1..n-1]: recurse on the smaller side, loop on the other */
        Py_ssize_t left = j + 1;
        if (left <= 0 || left >= n) { /* not expected; never loop on the same range */
            heap_sort(a, n);
            return;
        }
        if (left < n - left) {
            intro_sort(a, left, depth);
            a += left;
            n -= left;
        }
        else {
            intro_sort(a + left, n - left, depth);
            n = left;
        }
    }
    insertion_sort(a, n);
}

static void
sort_int64(int64_t *a, Py_ssize_t n)
{
    int depth = 0;
    for (Py_ssize_t m = n; m > 1; m >>= 1) {
        depth += 2;
    }
    intro_sort(a, n, depth);
}

/* A growable buffer of int64. */
typedef struct {
    int64_t *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Int64Vec;

static int
vec_push(Int64Vec *v, int64_t x)
{
    if (v->len == v->cap) {
        Py_ssize_t cap = v->cap ? v->cap * 2 : 256;
        int64_t *data = PyMem_Realloc(v->data, (size_t)cap * sizeof(int64_t));
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        v->data = data;
        v->cap = cap;
    }
    v->data[v->len++] = x;
    return 0;
}

/* ------------------------------------------------------------------ WordKeys */

/* One slot of the open-addressing table: a word (bytes in the arena) and its key. */
typedef struct {
    uint64_t hash;
    int64_t key;
    Py_ssize_t offset; /* into the arena */
    Py_ssize_t len;    /* 0: empty slot (words are never empty) */
} Slot;

typedef struct {
    PyObject_HEAD
    uint64_t seed; /* mixed into every hash: word lists cannot be made to collide */
    Slot *slots;
    Py_ssize_t mask; /* capacity - 1, capacity a power of two */
    Py_ssize_t used;
    char *arena;
    Py_ssize_t arena_len;
    Py_ssize_t arena_cap;
    Int64Vec keys; /* scratch of analyse */
    char *lower;   /* scratch of analyse: the text lowercased */
    Py_ssize_t lower_cap;
} WordKeys;

static uint64_t
hash_bytes(uint64_t seed, const char *s, Py_ssize_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed; /* FNV-1a, then a finaliser for the low bits */
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= seed;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static Slot *
find_slot(WordKeys *self, const char *word, Py_ssize_t n, uint64_t h)
{
    Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)self->mask);
    for (;;) {
        Slot *s = &self->slots[i];
        if (s->len == 0) {
            return s;
        }
        if (s->hash == h && s->len == n && memcmp(self->arena + s->offset, word, (size_t)n) == 0) {
            return s;
        }
        i = (i + 1) & self->mask;
    }
}

static int
wk_alloc_slots(WordKeys *self, Py_ssize_t capacity)
{
    Slot *slots = PyMem_Calloc((size_t)capacity, sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyMem_Free(self->slots);
    self->slots = slots;
    self->mask = capacity - 1;
    self->used = 0;
    return 0;
}

static int
wk_grow(WordKeys *self)
{
    Slot *old = self->slots;
    Py_ssize_t old_cap = self->mask + 1;
    Slot *slots = PyMem_Calloc((size_t)old_cap * 2, sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->slots = slots;
    self->mask = old_cap * 2 - 1;
    for (Py_ssize_t i = 0; i < old_cap; i++) {
        if (old[i].len) {
            Py_ssize_t j = (Py_ssize_t)(old[i].hash & (uint64_t)self->mask);
            while (slots[j].len) {
                j = (j + 1) & self->mask;
            }
            slots[j] = old[i];
        }
    }
    PyMem_Free(old);
    return 0;
}

static int
wk_init(WordKeys *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seed", NULL};
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|K:WordKeys", kwlist, &seed)) {
        return -1;
    }
    self->seed = (uint64_t)seed;
    if (wk_alloc_slots(self, 1024) < 0) { /* (again, if __init__ is called again) */
        return -1;
    }
    self->arena_len = 0;
    return 0;
}

static void
wk_dealloc(WordKeys *self)
{
    PyMem_Free(self->slots);
    PyMem_Free(self->arena);
    PyMem_Free(self->keys.data);
    PyMem_Free(self->lower);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
wk_set(WordKeys *self, PyObject *args)
{
    const char *word;
    Py_ssize_t n;
    long long key;
    if (!PyArg_ParseTuple(args, "s#L:set", &word, &n, &key)) {
        return NULL;
    }
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "a word is never empty");
        return NULL;
    }
    uint64_t h = hash_bytes(self->seed, word, n);
    Slot *s = find_slot(self, word, n, h);
    if (s->len) {
        s->key = key;
        Py_RETURN_NONE;
    }
    if (self->arena_len + n > self->arena_cap) {
        Py_ssize_t cap = self->arena_cap ? self->arena_cap : 4096;
        while (cap < self->arena_len + n) {
            cap *= 2;
        }
        char *arena = PyMem_Realloc(self->arena, (size_t)cap);
        if (arena == NULL) {
            return PyErr_NoMemory();
        }
        self->arena = arena;
        self->arena_cap = cap;
    }
    memcpy(self->arena + self->arena_len, word, (size_t)n);
    s->hash = h;
    s->key = key;
    s->offset = self->arena_len;
    s->len = n;
    self->arena_len += n;
    self->used++;
    if (self->used * 2 > self->mask + 1 && wk_grow(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
wk_clear(WordKeys *self, PyObject *Py_UNUSED(ignored))
{
    if (wk_alloc_slots(self, 1024) < 0) {
        return NULL;
    }
    self->arena_len = 0;
    Py_RETURN_NONE;
}

static Py_ssize_t
wk_len(WordKeys *self)
{
    return self->used;
}

/* Lowercase the ASCII text into self->lower; -1 on no memory. */
static int
wk_lower(WordKeys *self, const char *text, Py_ssize_t n)
{
    if (n > self->lower_cap) {
        char *lower = PyMem_Realloc(self->lower, (size_t)n);
        if (lower == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->lower = lower;
        self->lower_cap = n;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = text[i];
        self->lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    return 0;
}

static inline int
is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Look up every word of one ASCII text: its key goes to self->keys, or, if the word is
   not in the table, the word goes to the set ``missing`` (created on the first). */
static int
wk_scan(WordKeys *self, PyObject *text, PyObject **missing)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (wk_lower(self, (const char *)PyUnicode_DATA(text), n) < 0) {
        return -1;
    }
    const char *s = self->lower;
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && !is_word_char(s[i])) {
            i++;
        }
        Py_ssize_t start = i;
        while (i < n && is_word_char(s[i])) {
            i++;
        }
        if (i == start) {
            break;
        }
        Py_ssize_t len = i - start;
        Slot *slot = find_slot(self, s + start, len, hash_bytes(self->seed, s + start, len));
        if (slot->len) {
            if (vec_push(&self->keys, slot->key) < 0) {
                return -1;
            }
            continue;
        }
        if (*missing == NULL && (*missing = PySet_New(NULL)) == NULL) {
            return -1;
        }
        PyObject *word = PyUnicode_FromStringAndSize(s + start, len);
        if (word == NULL || PySet_Add(*missing, word) < 0) {
            Py_XDECREF(word);
            return -1;
        }
        Py_DECREF(word);
    }
    return 0;
}

/* The keys gathered, sorted and each once: the negative ones (as ints) and the tokens
   at the places of the positive ones (``by_place[key]``). */
static PyObject *
wk_result(WordKeys *self, PyObject *by_place)
{
    int64_t *k = self->keys.data;
    Py_ssize_t n = self->keys.len, distinct = 0, negative = 0;
    sort_int64(k, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i == 0 || k[i] != k[i - 1]) {
            k[distinct++] = k[i];
            negative += k[i] < 0;
        }
    }
    Py_ssize_t places = PyList_GET_SIZE(by_place);
    PyObject *outside = PyList_New(negative);
    PyObject *placed = PyList_New(distinct - negative);
    if (outside == NULL || placed == NULL) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < negative; i++) {
        PyObject *v = PyLong_FromLongLong(k[i]);
        if (v == NULL) {
            goto fail;
        }
        PyList_SET_ITEM(outside, i, v);
    }
    for (Py_ssize_t i = negative; i < distinct; i++) {
        if (k[i] >= places) {
            PyErr_SetString(PyExc_IndexError, "a word's place is past the end of by_place");
            goto fail;
        }
        PyObject *token = PyList_GET_ITEM(by_place, (Py_ssize_t)k[i]);
        Py_INCREF(token);
        PyList_SET_ITEM(placed, i - negative, token);
    }
    PyObject *empty = PyList_New(0);
    if (empty == NULL) {
        goto fail;
    }
    return Py_BuildValue("(NNN)", empty, outside, placed);
fail:
    Py_XDECREF(outside);
    Py_XDECREF(placed);
    return NULL;
}

static PyObject *
wk_analyse(WordKeys *self, PyObject *args)
{
    PyObject *title, *content, *by_place;
    if (!PyArg_ParseTuple(args, "UUO!:analyse", &title, &content, &PyList_Type, &by_place)) {
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(title) || !PyUnicode_IS_ASCII(content)) {
        Py_RETURN_NONE;
    }
    PyObject *missing = NULL;
    self->keys.len = 0;
    if (wk_scan(self, title, &missing) < 0 || wk_scan(self, content, &missing) < 0) {
        Py_XDECREF(missing);
        return NULL;
    }
    if (missing != NULL) {
        PyObject *words = PySequence_List(missing);
        Py_DECREF(missing);
        if (words == NULL) {
            return NULL;
        }
        return Py_BuildValue("(N[][])", words);
    }
    return wk_result(self, by_place);
}

static PyMethodDef wk_methods[] = {
    {"set", (PyCFunction)wk_set, METH_VARARGS, "set(word, key): remember a word's key."},
    {"clear", (PyCFunction)wk_clear, METH_NOARGS, "clear(): forget every word."},
    {"analyse", (PyCFunction)wk_analyse, METH_VARARGS,
     "analyse(title, content, by_place): None unless both are ASCII; else (missing, "
     "outside, placed)."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods wk_as_sequence = {
    .sq_length = (lenfunc)wk_len,
};

static PyTypeObject WordKeysType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memento_syncd.core._speedups.WordKeys",
    .tp_doc = PyDoc_STR("Words and their keys, for the ASCII texts of token_order.FrozenOrder."),
    .tp_basicsize = sizeof(WordKeys),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)wk_init,
    .tp_dealloc = (destructor)wk_dealloc,
    .tp_methods = wk_methods,
    .tp_as_sequence = &wk_as_sequence,
};

/* ------------------------------------------------------------------ in_at_least */

/* Values below this are counted in a table indexed by value (one byte each, kept between
   calls and zeroed after each); others, or more than 255 lists, are sorted instead. */
#define DENSE_LIMIT (1 << 24)

static unsigned char *dense_counts = NULL; /* scratch; the GIL is held throughout */
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
