/* Sorting int64 values (introsort: no quadratic case) and a growable int64 buffer.
   Part of _speedups.c (included there, one translation unit). */

#ifndef MEMENTO_SPEEDUPS_SORT_H
#define MEMENTO_SPEEDUPS_SORT_H

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


#endif
