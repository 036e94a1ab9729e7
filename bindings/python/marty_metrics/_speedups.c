/*
 * _speedups: the compiled recording path of marty_metrics (the ctypes path in metrics.py is
 * the fallback and the reference for every behaviour here).
 *
 * Why it exists: through ctypes, `counter.inc()` is a Python method that converts its
 * arguments and calls a ctypes function object: 150 ns and more, where the library's
 * lock-free recording takes a few. Here the recording methods are C methods (METH_FASTCALL)
 * of the series types the Python child classes derive from, and `labels(...)` has a C
 * front (LabelsCache) that finds a cached child without running Python code.
 *
 * How the library's functions are found: not by linking. metrics.py hands over, once at
 * import, the addresses ctypes resolved in the library it loaded (bind()). So the extension
 * always calls the very copy ctypes uses (MARTY_METRICS_LIBRARY, the bundled one or the
 * system's): two copies in one process would mean two default registries, and handles of
 * one passed to the other. It also builds without the library present.
 *
 * The GIL is kept: the recording calls are lock-free and allocation-free, shorter than
 * releasing and taking the GIL again. Everything that can block stays on ctypes.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#if PY_VERSION_HEX < 0x03090000 /* 3.8 had vectorcall under provisional names */
#define PyObject_Vectorcall _PyObject_Vectorcall
#define Py_TPFLAGS_HAVE_VECTORCALL _Py_TPFLAGS_HAVE_VECTORCALL
#endif

/* ---- The library's recording functions (include/marty_metrics.h) ------------------------ */

typedef struct marty_counter marty_counter;
typedef struct marty_gauge marty_gauge;
typedef struct marty_histogram marty_histogram;

typedef int (*counter_inc_fn)(marty_counter *);
typedef int (*counter_add_fn)(marty_counter *, double);
typedef int (*gauge_step_fn)(marty_gauge *);
typedef int (*gauge_value_fn)(marty_gauge *, double);
typedef int (*histogram_observe_fn)(marty_histogram *, double);

#ifdef MARTY_METRICS_HAVE_HEADER
/* Built in the repository (setup.py finds include/marty_metrics.h): check that the
 * declarations above match the header's, so a changed signature fails the build. */
#include "marty_metrics.h"
#define SAME_TYPE(function, pointer_type) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&function), pointer_type), \
                   #function " does not match include/marty_metrics.h")
SAME_TYPE(marty_counter_inc, counter_inc_fn);
SAME_TYPE(marty_counter_add, counter_add_fn);
SAME_TYPE(marty_gauge_inc, gauge_step_fn);
SAME_TYPE(marty_gauge_dec, gauge_step_fn);
SAME_TYPE(marty_gauge_set_to_current_time, gauge_step_fn);
SAME_TYPE(marty_gauge_set, gauge_value_fn);
SAME_TYPE(marty_gauge_add, gauge_value_fn);
SAME_TYPE(marty_histogram_observe, histogram_observe_fn);
#endif

/* Process-wide, as the library is: set once by bind(). */
static struct {
    counter_inc_fn counter_inc;
    counter_add_fn counter_add;
    gauge_step_fn gauge_inc;
    gauge_step_fn gauge_dec;
    gauge_step_fn gauge_set_to_current_time;
    gauge_value_fn gauge_set;
    gauge_value_fn gauge_add;
    histogram_observe_fn histogram_observe;
} lib;

/* Python callables given by bind(): the exception for a failed status (_native.error_for),
 * and the ctypes methods that take over when an exemplar is given. */
static PyObject *error_for = NULL;
static PyObject *counter_inc_with_exemplar = NULL;
static PyObject *histogram_observe_with_exemplar = NULL;
static int bound = 0;

static PyObject *
raise_status(int status)
{
    PyObject *error = PyObject_CallFunction(error_for, "i", status);
    if (error != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(error), error);
        Py_DECREF(error);
    }
    return NULL;
}

static inline PyObject *
status_result(int status)
{
    if (status == 0) {
        Py_RETURN_NONE;
    }
    return raise_status(status);
}

/* ---- Arguments, as the ctypes methods take them ----------------------------------------- */

/*
 * `value == 1`, as the Python methods test it before choosing the +1 call: exact ints and
 * floats without a call, anything else through its own __eq__. -1 on error.
 */
static inline int
equals_one(PyObject *value)
{
    if (PyFloat_CheckExact(value)) {
        return PyFloat_AS_DOUBLE(value) == 1.0;
    }
    if (PyLong_CheckExact(value)) {
        int overflow;
        long number = PyLong_AsLongAndOverflow(value, &overflow);
        return overflow == 0 && number == 1;
    }
    PyObject *one = PyLong_FromLong(1);
    if (one == NULL) {
        return -1;
    }
    int result = PyObject_RichCompareBool(value, one, Py_EQ);
    Py_DECREF(one);
    return result;
}

/*
 * The double ctypes would pass for a c_double argument (PyFloat_AsDouble: __float__, then
 * __index__). Where ctypes fails (an ArgumentError, which the Python methods turn into a
 * TypeError), so does this, with the same message: "<what> must be a real number, not <type>".
 */
static inline int
real_number(PyObject *value, const char *what, double *out)
{
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 0;
    }
    double number = PyFloat_AsDouble(value);
    if (number == -1.0 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return -1; /* KeyboardInterrupt and the like go through */
        }
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a real number, not %s", what, Py_TYPE(value)->tp_name);
        return -1;
    }
    *out = number;
    return 0;
}

/*
 * Fills out[0 .. count-1] from positional and keyword arguments (borrowed references; NULL
 * where not given), with the errors Python raises for a def with these parameters. `name`
 * is the method's name; the first `required` parameters have no default.
 */
static int
parse_arguments(const char *name, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                const char *const *parameters, Py_ssize_t count, Py_ssize_t required, PyObject **out)
{
    Py_ssize_t i;
    for (i = 0; i < count; i++) {
        out[i] = NULL;
    }
    if (nargs > count) {
        if (required == count) {
            PyErr_Format(PyExc_TypeError, "%s() takes %zd positional arguments but %zd were given", name,
                         count + 1, nargs + 1);
        } else {
            PyErr_Format(PyExc_TypeError, "%s() takes from %zd to %zd positional arguments but %zd were given",
                         name, required + 1, count + 1, nargs + 1);
        }
        return -1;
    }
    for (i = 0; i < nargs; i++) {
        out[i] = args[i];
    }
    Py_ssize_t keywords = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < keywords; k++) {
        PyObject *keyword = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t j = 0;
        while (j < count && PyUnicode_CompareWithASCIIString(keyword, parameters[j]) != 0) {
            j++;
        }
        if (j == count) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", name, keyword);
            return -1;
        }
        if (out[j] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", name, parameters[j]);
            return -1;
        }
        out[j] = args[nargs + k];
    }
    for (i = 0; i < required; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing 1 required positional argument: '%s'", name,
                         parameters[i]);
            return -1;
        }
    }
    return 0;
}

/* The ctypes method `slow`, called with `self` first and the arguments as they came. */
static PyObject *
call_python_method(PyObject *slow, PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *stack[8];
    Py_ssize_t total = nargs + (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
    if (total + 1 > (Py_ssize_t)(sizeof stack / sizeof stack[0])) {
        PyErr_SetString(PyExc_TypeError, "too many arguments");
        return NULL;
    }
    stack[0] = self;
    for (Py_ssize_t i = 0; i < total; i++) {
        stack[i + 1] = args[i];
    }
    return PyObject_Vectorcall(slow, stack, nargs + 1, kwnames);
}

/* ---- Series: one per child (CounterChild, GaugeChild, HistogramChild derive from them) --- */

typedef struct {
    PyObject_HEAD
    void *series;          /* the marty_counter * / marty_gauge * / marty_histogram * */
    PyObject *handle;      /* _h: the same pointer as a ctypes c_void_p, for the ctypes calls */
    PyObject *parent;      /* _parent: the metric; it holds the family the handle comes from */
    PyObject *labelvalues; /* _labelvalues */
    PyObject *weakrefs;
} Series;

static int
Series_init(Series *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"handle", "parent", "labelvalues", NULL};
    PyObject *handle, *parent, *labelvalues;
    if (!bound) {
        PyErr_SetString(PyExc_RuntimeError, "marty_metrics._speedups is not bound to the library yet");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO", keywords, &handle, &parent, &labelvalues)) {
        return -1;
    }
    /* A ctypes c_void_p (its .value) or an int: the series handle of marty_*_get. */
    PyObject *address = PyLong_Check(handle) ? (Py_INCREF(handle), handle) : PyObject_GetAttrString(handle, "value");
    if (address == NULL) {
        return -1;
    }
    void *series = address == Py_None ? NULL : PyLong_AsVoidPtr(address);
    Py_DECREF(address);
    if (series == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "a series needs a non-NULL handle");
        }
        return -1;
    }
    self->series = series;
    Py_INCREF(handle);
    Py_XSETREF(self->handle, handle);
    Py_INCREF(parent);
    Py_XSETREF(self->parent, parent);
    Py_INCREF(labelvalues);
    Py_XSETREF(self->labelvalues, labelvalues);
    return 0;
}

static int
Series_traverse(Series *self, visitproc visit, void *arg)
{
    Py_VISIT(self->handle);
    Py_VISIT(self->parent);
    Py_VISIT(self->labelvalues);
    return 0;
}

static int
Series_clear(Series *self)
{
    Py_CLEAR(self->handle);
    Py_CLEAR(self->parent);
    Py_CLEAR(self->labelvalues);
    return 0;
}

static void
Series_dealloc(Series *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    Series_clear(self);
    /* The Python subclass's dealloc (subtype_dealloc) calls this one and drops its type. */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef Series_members[] = {
    {"_h", T_OBJECT, offsetof(Series, handle), READONLY, "the series handle as a ctypes c_void_p"},
    {"_parent", T_OBJECT, offsetof(Series, parent), READONLY, "the metric the series belongs to"},
    {"_labelvalues", T_OBJECT, offsetof(Series, labelvalues), READONLY, "the series' label values"},
    {NULL},
};

#define SERIES(self) ((Series *)(self))

/* -- Counter */

static const char *const counter_inc_parameters[] = {"amount", "exemplar"};

static PyObject *
Counter_inc(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *values[2];
    int status;
    if (nargs == 0 && kwnames == NULL) {
        return status_result(lib.counter_inc(SERIES(self)->series));
    }
    if (nargs == 1 && kwnames == NULL) {
        values[0] = args[0];
    } else {
        if (parse_arguments("inc", args, nargs, kwnames, counter_inc_parameters, 2, 0, values) < 0) {
            return NULL;
        }
        if (values[1] != NULL && values[1] != Py_None) {
            return call_python_method(counter_inc_with_exemplar, self, args, nargs, kwnames);
        }
        if (values[0] == NULL) {
            return status_result(lib.counter_inc(SERIES(self)->series));
        }
    }
    int one = equals_one(values[0]);
    if (one < 0) {
        return NULL;
    }
    if (one) {
        status = lib.counter_inc(SERIES(self)->series);
    } else {
        double amount;
        if (real_number(values[0], "amount", &amount) < 0) {
            return NULL;
        }
        status = lib.counter_add(SERIES(self)->series, amount);
    }
    return status_result(status);
}

static PyMethodDef CounterSeries_methods[] = {
    {"inc", (PyCFunction)(void (*)(void))Counter_inc, METH_FASTCALL | METH_KEYWORDS,
     "inc(amount=1, exemplar=None)\n--\n\n"
     "Adds `amount` (default 1): non-negative, finite or +Inf (ValueError otherwise). `exemplar`, a dict "
     "of label names to values (e.g. {\"trace_id\": \"...\"}), is kept with the amount and shown by "
     "OpenMetrics scrapes."},
    {NULL},
};

/* -- Gauge */

static const char *const amount_parameters[] = {"amount"};
static const char *const value_parameters[] = {"value"};

/* inc(amount=1) and dec(amount=1): `step` for 1, else gauge_add of +amount or -amount. */
static PyObject *
gauge_step(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *name,
           gauge_step_fn step, int negate)
{
    PyObject *amount;
    if (nargs == 0 && kwnames == NULL) {
        return status_result(step(SERIES(self)->series));
    }
    if (nargs == 1 && kwnames == NULL) {
        amount = args[0];
    } else {
        if (parse_arguments(name, args, nargs, kwnames, amount_parameters, 1, 0, &amount) < 0) {
            return NULL;
        }
        if (amount == NULL) {
            return status_result(step(SERIES(self)->series));
        }
    }
    int one = equals_one(amount);
    if (one < 0) {
        return NULL;
    }
    if (one) {
        return status_result(step(SERIES(self)->series));
    }
    double number;
    if (negate && !PyFloat_CheckExact(amount)) {
        /* dec() adds -amount: a type without negation is the same TypeError as a non-number. */
        PyObject *negated = PyNumber_Negative(amount);
        if (negated == NULL) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, "amount must be a real number, not %s", Py_TYPE(amount)->tp_name);
            }
            return NULL;
        }
        int failed = real_number(negated, "amount", &number);
        Py_DECREF(negated);
        if (failed) {
            /* Name the type the caller gave, not its negation's. */
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, "amount must be a real number, not %s", Py_TYPE(amount)->tp_name);
            }
            return NULL;
        }
    } else {
        if (real_number(amount, "amount", &number) < 0) {
            return NULL;
        }
        if (negate) {
            number = -number;
        }
    }
    return status_result(lib.gauge_add(SERIES(self)->series, number));
}

static PyObject *
Gauge_inc(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return gauge_step(self, args, nargs, kwnames, "inc", lib.gauge_inc, 0);
}

static PyObject *
Gauge_dec(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return gauge_step(self, args, nargs, kwnames, "dec", lib.gauge_dec, 1);
}

static PyObject *
Gauge_set(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *value;
    double number;
    if (nargs == 1 && kwnames == NULL) {
        value = args[0];
    } else if (parse_arguments("set", args, nargs, kwnames, value_parameters, 1, 1, &value) < 0) {
        return NULL;
    }
    if (real_number(value, "value", &number) < 0) {
        return NULL;
    }
    return status_result(lib.gauge_set(SERIES(self)->series, number));
}

static PyObject *
Gauge_set_to_current_time(PyObject *self, PyObject *unused)
{
    return status_result(lib.gauge_set_to_current_time(SERIES(self)->series));
}

static PyMethodDef GaugeSeries_methods[] = {
    {"inc", (PyCFunction)(void (*)(void))Gauge_inc, METH_FASTCALL | METH_KEYWORDS,
     "inc(amount=1)\n--\n\nAdds `amount` (default 1; may be negative)."},
    {"dec", (PyCFunction)(void (*)(void))Gauge_dec, METH_FASTCALL | METH_KEYWORDS,
     "dec(amount=1)\n--\n\nSubtracts `amount` (default 1)."},
    {"set", (PyCFunction)(void (*)(void))Gauge_set, METH_FASTCALL | METH_KEYWORDS,
     "set(value)\n--\n\nSets the gauge to `value`."},
    {"set_to_current_time", Gauge_set_to_current_time, METH_NOARGS,
     "set_to_current_time()\n--\n\nSets the gauge to the current Unix time in seconds."},
    {NULL},
};

/* -- Histogram */

static const char *const observe_parameters[] = {"amount", "exemplar"};

static PyObject *
Histogram_observe(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *values[2];
    double amount;
    if (nargs == 1 && kwnames == NULL) {
        values[0] = args[0];
    } else {
        if (parse_arguments("observe", args, nargs, kwnames, observe_parameters, 2, 1, values) < 0) {
            return NULL;
        }
        if (values[1] != NULL && values[1] != Py_None) {
            return call_python_method(histogram_observe_with_exemplar, self, args, nargs, kwnames);
        }
    }
    if (real_number(values[0], "amount", &amount) < 0) {
        return NULL;
    }
    return status_result(lib.histogram_observe(SERIES(self)->series, amount));
}

static PyMethodDef HistogramSeries_methods[] = {
    {"observe", (PyCFunction)(void (*)(void))Histogram_observe, METH_FASTCALL | METH_KEYWORDS,
     "observe(amount, exemplar=None)\n--\n\n"
     "Records one observation (ValueError for NaN; infinities are counted). `exemplar`, a dict of label "
     "names to values, is kept for the observation's bucket."},
    {NULL},
};

#define SERIES_TYPE(c_name, python_name, methods, doc) \
    static PyTypeObject c_name = { \
        PyVarObject_HEAD_INIT(NULL, 0) \
        .tp_name = "marty_metrics._speedups." python_name, \
        .tp_basicsize = sizeof(Series), \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, \
        .tp_doc = doc, \
        .tp_new = PyType_GenericNew, \
        .tp_init = (initproc)Series_init, \
        .tp_dealloc = (destructor)Series_dealloc, \
        .tp_traverse = (traverseproc)Series_traverse, \
        .tp_clear = (inquiry)Series_clear, \
        .tp_weaklistoffset = offsetof(Series, weakrefs), \
        .tp_members = Series_members, \
        .tp_methods = methods, \
    }

SERIES_TYPE(CounterSeriesType, "CounterSeries", CounterSeries_methods,
            "CounterSeries(handle, parent, labelvalues): a counter series' recording methods in C.");
SERIES_TYPE(GaugeSeriesType, "GaugeSeries", GaugeSeries_methods,
            "GaugeSeries(handle, parent, labelvalues): a gauge series' recording methods in C.");
SERIES_TYPE(HistogramSeriesType, "HistogramSeries", HistogramSeries_methods,
            "HistogramSeries(handle, parent, labelvalues): a histogram series' recording methods in C.");

/* ---- LabelsCache: the C front of a labelled metric's labels() --------------------------- */

/*
 * Called as metric.labels(*values) or metric.labels(**values): when the values are exact str,
 * either exactly one per label name by position, or exactly one per label name by keyword
 * (any order), and the tuple of them in label-name order is a key of `children` (the
 * metric's own cache, filled by its Python labels()), that child is the answer. Anything
 * else (both kinds at once, another count, other names or types, a miss) goes to the Python
 * labels(), which checks, creates and caches as before: the answers and errors are the
 * Python method's, only a hit is faster.
 */
typedef struct {
    PyObject_HEAD
    PyObject *children;   /* dict: tuple of label values -> child */
    PyObject *labelnames; /* tuple of str */
    PyObject *uncached;   /* the metric's Python labels(), bound */
    vectorcallfunc vectorcall;
} LabelsCache;

/* The index in kwnames of `name`, or -1. Keyword names are usually the same interned objects
 * as the label names, so identity is tried first. */
static Py_ssize_t
keyword_index(PyObject *kwnames, PyObject *name)
{
    Py_ssize_t count = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t j = 0; j < count; j++) {
        if (PyTuple_GET_ITEM(kwnames, j) == name) {
            return j;
        }
    }
    for (Py_ssize_t j = 0; j < count; j++) {
        PyObject *keyword = PyTuple_GET_ITEM(kwnames, j);
        if (PyUnicode_Check(keyword) && PyUnicode_Compare(keyword, name) == 0) {
            return j;
        }
    }
    return -1;
}

static PyObject *
LabelsCache_vectorcall(LabelsCache *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t count = PyTuple_GET_SIZE(self->labelnames);
    int by_position = kwnames == NULL && nargs == count;
    int by_keyword = kwnames != NULL && nargs == 0 && PyTuple_GET_SIZE(kwnames) == count;
    if (by_position || by_keyword) {
        PyObject *key = PyTuple_New(count);
        if (key == NULL) {
            return NULL;
        }
        Py_ssize_t i;
        for (i = 0; i < count; i++) {
            /* Keywords are taken in label-name order: the same key the Python method builds. */
            Py_ssize_t j = by_position ? i : keyword_index(kwnames, PyTuple_GET_ITEM(self->labelnames, i));
            if (j < 0 || !PyUnicode_CheckExact(args[j])) {
                break;
            }
            Py_INCREF(args[j]);
            PyTuple_SET_ITEM(key, i, args[j]);
        }
        if (PyErr_Occurred()) { /* a failed comparison in keyword_index */
            Py_DECREF(key);
            return NULL;
        }
        if (i == count) {
            PyObject *child = PyDict_GetItemWithError(self->children, key);
            Py_DECREF(key);
            if (child != NULL) {
                Py_INCREF(child);
                return child;
            }
            if (PyErr_Occurred()) {
                return NULL;
            }
        } else {
            Py_DECREF(key); /* items past i are NULL: tuple dealloc skips them */
        }
    }
    return PyObject_Vectorcall(self->uncached, args, nargsf, kwnames);
}

static PyObject *
LabelsCache_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"children", "labelnames", "uncached", NULL};
    PyObject *children, *labelnames, *uncached;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!O", keywords, &PyDict_Type, &children, &PyTuple_Type,
                                     &labelnames, &uncached)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(labelnames) < 1) {
        PyErr_SetString(PyExc_ValueError, "LabelsCache is for metrics with label names");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(labelnames); i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(labelnames, i))) {
            PyErr_SetString(PyExc_TypeError, "label names must be str");
            return NULL;
        }
    }
    if (!PyCallable_Check(uncached)) {
        PyErr_SetString(PyExc_TypeError, "uncached must be callable");
        return NULL;
    }
    LabelsCache *self = (LabelsCache *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(children);
    self->children = children;
    Py_INCREF(labelnames);
    self->labelnames = labelnames;
    Py_INCREF(uncached);
    self->uncached = uncached;
    self->vectorcall = (vectorcallfunc)LabelsCache_vectorcall;
    return (PyObject *)self;
}

static PyObject *
LabelsCache_call(LabelsCache *self, PyObject *args, PyObject *kwargs)
{
    return PyObject_Call(self->uncached, args, kwargs);
}

static int
LabelsCache_traverse(LabelsCache *self, visitproc visit, void *arg)
{
    Py_VISIT(self->children);
    Py_VISIT(self->labelnames);
    Py_VISIT(self->uncached);
    return 0;
}

static int
LabelsCache_clear(LabelsCache *self)
{
    Py_CLEAR(self->children);
    Py_CLEAR(self->labelnames);
    Py_CLEAR(self->uncached);
    return 0;
}

static void
LabelsCache_dealloc(LabelsCache *self)
{
    PyObject_GC_UnTrack(self);
    LabelsCache_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
LabelsCache_repr(LabelsCache *self)
{
    return PyUnicode_FromFormat("<labels() of %R>", self->uncached);
}

/* The Python labels() this stands for, so that help(metric.labels) and signatures still work. */
static PyObject *
LabelsCache_get_uncached(LabelsCache *self, void *closure)
{
    Py_INCREF(self->uncached);
    return self->uncached;
}

static PyObject *
LabelsCache_get_doc(LabelsCache *self, void *closure)
{
    return PyObject_GetAttrString(self->uncached, "__doc__");
}

static PyObject *
LabelsCache_get_signature(LabelsCache *self, void *closure)
{
    PyObject *inspect = PyImport_ImportModule("inspect");
    if (inspect == NULL) {
        return NULL;
    }
    PyObject *signature = PyObject_CallMethod(inspect, "signature", "O", self->uncached);
    Py_DECREF(inspect);
    return signature;
}

static PyGetSetDef LabelsCache_getset[] = {
    {"__wrapped__", (getter)LabelsCache_get_uncached, NULL, "the Python labels() behind the cache"},
    {"__doc__", (getter)LabelsCache_get_doc, NULL, NULL},
    {"__signature__", (getter)LabelsCache_get_signature, NULL, NULL},
    {NULL},
};

static PyTypeObject LabelsCacheType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "marty_metrics._speedups.LabelsCache",
    .tp_basicsize = sizeof(LabelsCache),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "LabelsCache(children, labelnames, uncached): labels(*values) or labels(**values) answered "
              "from the children dict when it can, else by uncached(*values, **values).",
    .tp_new = LabelsCache_new,
    .tp_call = (ternaryfunc)LabelsCache_call,
    .tp_vectorcall_offset = offsetof(LabelsCache, vectorcall),
    .tp_dealloc = (destructor)LabelsCache_dealloc,
    .tp_traverse = (traverseproc)LabelsCache_traverse,
    .tp_clear = (inquiry)LabelsCache_clear,
    .tp_repr = (reprfunc)LabelsCache_repr,
    .tp_getset = LabelsCache_getset,
};

/* ---- bind(): the library's addresses and the Python fallbacks ---------------------------- */

static int
address_of(PyObject *addresses, const char *name, void **out)
{
    PyObject *value = PyDict_GetItemString(addresses, name);
    if (value == NULL) {
        PyErr_Format(PyExc_KeyError, "bind(): no address for %s", name);
        return -1;
    }
    void *address = PyLong_AsVoidPtr(value);
    if (address == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "bind(): the address of %s is NULL", name);
        }
        return -1;
    }
    *out = address;
    return 0;
}

static PyObject *
bind(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"addresses", "error_for", "counter_inc", "histogram_observe", NULL};
    PyObject *addresses, *error_factory, *counter_inc_slow, *observe_slow;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOO", keywords, &PyDict_Type, &addresses, &error_factory,
                                     &counter_inc_slow, &observe_slow)) {
        return NULL;
    }
    if (!PyCallable_Check(error_factory) || !PyCallable_Check(counter_inc_slow) || !PyCallable_Check(observe_slow)) {
        PyErr_SetString(PyExc_TypeError, "bind(): error_for, counter_inc and histogram_observe must be callable");
        return NULL;
    }
    /* Read every address before changing anything, so a failed bind leaves no half state. */
    void *found[8];
    static const char *const names[8] = {
        "marty_counter_inc", "marty_counter_add", "marty_gauge_inc", "marty_gauge_dec",
        "marty_gauge_set_to_current_time", "marty_gauge_set", "marty_gauge_add", "marty_histogram_observe",
    };
    for (int i = 0; i < 8; i++) {
        if (address_of(addresses, names[i], &found[i]) < 0) {
            return NULL;
        }
    }
    lib.counter_inc = (counter_inc_fn)found[0];
    lib.counter_add = (counter_add_fn)found[1];
    lib.gauge_inc = (gauge_step_fn)found[2];
    lib.gauge_dec = (gauge_step_fn)found[3];
    lib.gauge_set_to_current_time = (gauge_step_fn)found[4];
    lib.gauge_set = (gauge_value_fn)found[5];
    lib.gauge_add = (gauge_value_fn)found[6];
    lib.histogram_observe = (histogram_observe_fn)found[7];
    Py_INCREF(error_factory);
    Py_XSETREF(error_for, error_factory);
    Py_INCREF(counter_inc_slow);
    Py_XSETREF(counter_inc_with_exemplar, counter_inc_slow);
    Py_INCREF(observe_slow);
    Py_XSETREF(histogram_observe_with_exemplar, observe_slow);
    bound = 1;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"bind", (PyCFunction)(void (*)(void))bind, METH_VARARGS | METH_KEYWORDS,
     "bind(addresses, error_for, counter_inc, histogram_observe)\n--\n\n"
     "Binds the extension to the loaded library: `addresses` maps each recording function's name "
     "(marty_counter_inc, ...) to its address in the library ctypes loaded; error_for(status) gives "
     "the exception of a failed status; counter_inc and histogram_observe are the ctypes methods that "
     "record when an exemplar is given."},
    {NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "marty_metrics._speedups",
    .m_doc = "The compiled recording path of marty_metrics (see metrics.py for the ctypes one).",
    .m_size = -1,
    .m_methods = module_methods,
};

/* The gRPC call recording functions (appended at the end of this file). */
static int add_grpc_functions(PyObject *module);

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyTypeObject *types[] = {&CounterSeriesType, &GaugeSeriesType, &HistogramSeriesType, &LabelsCacheType};
    const char *names[] = {"CounterSeries", "GaugeSeries", "HistogramSeries", "LabelsCache"};
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (PyType_Ready(types[i]) < 0) {
            Py_DECREF(module);
            return NULL;
        }
        Py_INCREF(types[i]);
        if (PyModule_AddObject(module, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(types[i]);
            Py_DECREF(module);
            return NULL;
        }
    }
    if (add_grpc_functions(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

/* ---- gRPC calls (grpc.py) ---------------------------------------------------------------- */

/*
 * Why: grpc.py's wrapped handlers record each call with marty_service_call_started,
 * marty_service_record_traced_call and marty_service_call_finished, and read the call's status
 * (context.code()) and its traceparent metadata. Through ctypes that is three foreign calls
 * and a Python loop over the metadata per RPC; here it is two C calls: grpc_call_started()
 * when the handler starts, grpc_call_ended() when it ends. grpc.py's Python functions of the
 * same names are the ctypes path and the reference for what these do. The catalog functions
 * are lock-free (include/marty_metrics.h), so the GIL is kept. Their statuses are ignored, as
 * on the ctypes path: recording must never fail an RPC.
 */

#include <time.h>

typedef struct marty_service_metrics marty_service_metrics;
typedef int (*service_step_fn)(marty_service_metrics *);
typedef int (*service_traced_call_fn)(marty_service_metrics *, const char *, const char *, double, const char *,
                                      const char *);

#ifdef MARTY_METRICS_HAVE_HEADER
SAME_TYPE(marty_service_call_started, service_step_fn);
SAME_TYPE(marty_service_call_finished, service_step_fn);
SAME_TYPE(marty_service_record_traced_call, service_traced_call_fn);
#endif

static struct {
    service_step_fn call_started;
    service_step_fn call_finished;
    service_traced_call_fn record_traced_call;
} service_lib;

/* Set by bind_grpc(): {grpc.StatusCode: b"NAME"} and grpc.StatusCode.OK. */
static PyObject *grpc_status_names = NULL;
static PyObject *grpc_ok = NULL;
static PyObject *str_code = NULL;
static PyObject *str_invocation_metadata = NULL;
static int grpc_bound = 0;

/* CLOCK_MONOTONIC in seconds: what time.perf_counter() reads on Linux, so the two paths agree. */
static inline double
monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static int
grpc_handle(PyObject *value, marty_service_metrics **out)
{
    if (!grpc_bound) {
        PyErr_SetString(PyExc_RuntimeError, "marty_metrics._speedups: bind_grpc() was not called");
        return -1;
    }
    void *handle = PyLong_AsVoidPtr(value);
    if (handle == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "the service metrics handle is NULL");
        }
        return -1;
    }
    *out = (marty_service_metrics *)handle;
    return 0;
}

/* A bytes argument as a C string, or NULL for None when `optional`. -1 on a wrong type. */
static int
grpc_bytes(PyObject *value, const char *what, int optional, const char **out)
{
    if (optional && value == Py_None) {
        *out = NULL;
        return 0;
    }
    if (!PyBytes_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be bytes%s, not %s", what, optional ? " or None" : "",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    *out = PyBytes_AS_STRING(value);
    return 0;
}

/*
 * The call's `traceparent` metadata value, as grpc.py's _traceparent(): the first entry whose
 * key is the str "traceparent"; a str value encoded as ASCII (errors replaced), any other value
 * none. *keep receives the bytes the result points into (NULL when there is no result).
 * A context whose invocation_metadata() raises an Exception has none. -1 on error.
 */
static int
grpc_traceparent(PyObject *context, PyObject **keep, const char **out)
{
    *keep = NULL;
    *out = NULL;
    PyObject *metadata = PyObject_CallMethodObjArgs(context, str_invocation_metadata, NULL);
    if (metadata == NULL) {
        if (PyErr_ExceptionMatches(PyExc_Exception)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    int truth = PyObject_IsTrue(metadata); /* `metadata or ()` */
    if (truth <= 0) {
        Py_DECREF(metadata);
        return truth;
    }
    PyObject *iterator = PyObject_GetIter(metadata);
    Py_DECREF(metadata);
    if (iterator == NULL) {
        return -1;
    }
    PyObject *item;
    int result = 0;
    while ((item = PyIter_Next(iterator)) != NULL) {
        /* `for key, value in ...`: gRPC's entries are 2-tuples (_Metadatum); anything else is
         * unpacked as a sequence, and must hold two items as in Python. */
        PyObject *pair = PyTuple_Check(item) ? (Py_INCREF(item), item) : PySequence_Tuple(item);
        Py_DECREF(item);
        if (pair == NULL) {
            result = -1;
            break;
        }
        if (PyTuple_GET_SIZE(pair) != 2) {
            PyErr_Format(PyExc_ValueError, "a metadata entry has %zd items, not 2 (key, value)",
                         PyTuple_GET_SIZE(pair));
            Py_DECREF(pair);
            result = -1;
            break;
        }
        PyObject *key = PyTuple_GET_ITEM(pair, 0);
        if (PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, "traceparent") == 0) {
            PyObject *value = PyTuple_GET_ITEM(pair, 1);
            if (PyUnicode_Check(value)) {
                *keep = PyUnicode_AsEncodedString(value, "ascii", "replace");
                if (*keep == NULL) {
                    result = -1;
                } else {
                    *out = PyBytes_AS_STRING(*keep);
                }
            }
            Py_DECREF(pair);
            break;
        }
        Py_DECREF(pair);
    }
    Py_DECREF(iterator);
    if (result == 0 && PyErr_Occurred()) {
        result = -1;
    }
    if (result < 0) {
        Py_CLEAR(*keep);
        *out = NULL;
    }
    return result;
}

static PyObject *
grpc_call_started(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    marty_service_metrics *metrics;
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError, "grpc_call_started() takes 1 argument (handle), %zd given", nargs);
        return NULL;
    }
    if (grpc_handle(args[0], &metrics) < 0) {
        return NULL;
    }
    service_lib.call_started(metrics);
    return PyFloat_FromDouble(monotonic_seconds());
}

static PyObject *
grpc_call_ended(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    marty_service_metrics *metrics;
    const char *method, *status = NULL, *error_type = NULL;
    if (nargs != 4 && nargs != 6) {
        PyErr_Format(PyExc_TypeError, "grpc_call_ended() takes 4 or 6 arguments (handle, method, start, "
                     "context[, status, error_type]), %zd given", nargs);
        return NULL;
    }
    double now = monotonic_seconds();
    if (grpc_handle(args[0], &metrics) < 0 || grpc_bytes(args[1], "method", 0, &method) < 0) {
        return NULL;
    }
    double start = PyFloat_AsDouble(args[2]);
    if (start == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *context = args[3];
    if (nargs == 6) {
        /* The caller decided (a handler that raised). */
        if (grpc_bytes(args[4], "status", 0, &status) < 0 || grpc_bytes(args[5], "error_type", 1, &error_type) < 0) {
            return NULL;
        }
    } else {
        /* A handler that returned: OK, or the code it set with set_code(). */
        PyObject *code = PyObject_CallMethodObjArgs(context, str_code, NULL);
        if (code == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_Exception)) {
                return NULL;
            }
            PyErr_Clear();
        }
        if (code == NULL || code == Py_None || code == grpc_ok) {
            status = "OK";
        } else {
            PyObject *name = PyDict_GetItemWithError(grpc_status_names, code); /* borrowed */
            if (name == NULL && PyErr_Occurred()) {
                if (!PyErr_ExceptionMatches(PyExc_Exception)) {
                    Py_DECREF(code);
                    return NULL;
                }
                PyErr_Clear(); /* an unhashable code: as unknown */
            }
            /* The dict and its bytes live as long as the module (bind_grpc keeps them). */
            status = error_type = name != NULL && PyBytes_Check(name) ? PyBytes_AS_STRING(name) : "UNKNOWN";
        }
        Py_XDECREF(code);
    }
    PyObject *keep;
    const char *traceparent;
    if (grpc_traceparent(context, &keep, &traceparent) < 0) {
        return NULL;
    }
    service_lib.record_traced_call(metrics, method, status, now - start, error_type, traceparent);
    Py_XDECREF(keep);
    service_lib.call_finished(metrics);
    Py_RETURN_NONE;
}

static PyObject *
bind_grpc(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "bind_grpc(addresses, status_names, ok): two dicts and the OK code");
        return NULL;
    }
    void *found[3];
    static const char *const names[3] = {
        "marty_service_call_started", "marty_service_call_finished", "marty_service_record_traced_call",
    };
    for (int i = 0; i < 3; i++) {
        if (address_of(args[0], names[i], &found[i]) < 0) {
            return NULL;
        }
    }
    if (str_code == NULL && (str_code = PyUnicode_InternFromString("code")) == NULL) {
        return NULL;
    }
    if (str_invocation_metadata == NULL &&
        (str_invocation_metadata = PyUnicode_InternFromString("invocation_metadata")) == NULL) {
        return NULL;
    }
    /* A copy: the names the C strings point into must not change under us. */
    PyObject *status_names = PyDict_Copy(args[1]);
    if (status_names == NULL) {
        return NULL;
    }
    service_lib.call_started = (service_step_fn)found[0];
    service_lib.call_finished = (service_step_fn)found[1];
    service_lib.record_traced_call = (service_traced_call_fn)found[2];
    Py_XSETREF(grpc_status_names, status_names);
    Py_INCREF(args[2]);
    Py_XSETREF(grpc_ok, args[2]);
    grpc_bound = 1;
    Py_RETURN_NONE;
}

static PyMethodDef grpc_methods[] = {
    {"bind_grpc", (PyCFunction)(void (*)(void))bind_grpc, METH_FASTCALL,
     "bind_grpc(addresses, status_names, ok)\n--\n\n"
     "Binds the gRPC call functions: `addresses` maps marty_service_call_started, "
     "marty_service_call_finished and marty_service_record_traced_call to their addresses in the "
     "library ctypes loaded; status_names maps each grpc.StatusCode to its name as bytes; ok is "
     "grpc.StatusCode.OK."},
    {"grpc_call_started", (PyCFunction)(void (*)(void))grpc_call_started, METH_FASTCALL,
     "grpc_call_started(handle)\n--\n\n"
     "marty_service_call_started(handle); returns the start time (CLOCK_MONOTONIC seconds)."},
    {"grpc_call_ended", (PyCFunction)(void (*)(void))grpc_call_ended, METH_FASTCALL,
     "grpc_call_ended(handle, method, start, context[, status, error_type])\n--\n\n"
     "Records the call's end: its status (given, or read from context.code(): OK or the code "
     "set, which is then also the error type), duration since `start`, and the exemplar of its "
     "traceparent metadata; then marty_service_call_finished(handle)."},
    {NULL},
};

static int
add_grpc_functions(PyObject *module)
{
    return PyModule_AddFunctions(module, grpc_methods);
}
