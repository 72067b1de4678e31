// matmul_ext, unguarded: worker threads release the GIL around a long computation,
// the way PyTorch's kernels do.  The GIL comes back in a destructor (noexcept, as every
// C++ destructor is by default), inside a noexcept function.  When the interpreter
// finalizes meanwhile, PyEval_RestoreThread kills the thread with pthread_exit on
// 3.9-3.13, whose forced unwind meets the noexcept frame: std::terminate, SIGABRT.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <vector>

namespace {

// What pybind11's gil_scoped_release and PyTorch's no-GIL guards do.
struct gil_release {
    PyThreadState *state;
    gil_release() noexcept : state(PyEval_SaveThread()) {}
    ~gil_release() { PyEval_RestoreThread(state); }
};

void multiply(const std::vector<double> &a, const std::vector<double> &b, std::vector<double> &c, int n) noexcept
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            for (int j = 0; j < n; j++)
                c[i * n + j] += a[i * n + k] * b[k * n + j];
}

double matmul(int n) noexcept
{
    std::vector<double> a(n * n, 1.0), b(n * n, 2.0), c(n * n, 0.0);
    {
        gil_release nogil;
        multiply(a, b, c, n);
    }
    return c[0];
}

PyObject *py_matmul(PyObject *, PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    return PyFloat_FromDouble(matmul((int)n));
}

PyMethodDef methods[] = {
    {"matmul", py_matmul, METH_O, "c[0] of an n x n product, computed without the GIL"},
    {NULL, NULL, 0, NULL},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "matmul_ext", NULL, -1, methods, NULL, NULL, NULL, NULL};

}  // namespace

PyMODINIT_FUNC PyInit_matmul_ext(void)
{
    return PyModule_Create(&module);
}
