/* WordKeys: the memo of ASCII words of token_order.FrozenOrder, as a hash table in C.
   Part of _speedups.c (included there, one translation unit); needs sort.h. */

#ifndef MEMENTO_SPEEDUPS_WORDKEYS_H
#define MEMENTO_SPEEDUPS_WORDKEYS_H

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


#endif
