// matmul_ext, guarded: worker threads release the GIL around a long computation,
// the way PyTorch's kernels do.  finirace::gil_scoped_release holds a guard while the
// GIL is released, so finalization waits for the computation (within a bound); a
// thread that comes back too late is parked instead of being killed inside a
// noexcept frame.  FiniRace_Setup registers the wait at exit.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <vector>
#include "finirace_guard.h"

namespace {

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
        finirace::gil_scoped_release nogil;
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
    if (FiniRace_Setup() < 0) return NULL;
    return PyModule_Create(&module);
}
