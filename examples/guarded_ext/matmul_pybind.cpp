// matmul_pb, unguarded: the pybind11 form of matmul_ext.  py::gil_scoped_release's
// destructor takes the GIL back with PyEval_RestoreThread; during finalization on
// 3.9-3.13 that is pthread_exit through a noexcept destructor: std::terminate.
#include <pybind11/pybind11.h>
#include <vector>

namespace py = pybind11;

static void multiply(const std::vector<double> &a, const std::vector<double> &b, std::vector<double> &c,
                     int n) noexcept
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            for (int j = 0; j < n; j++)
                c[i * n + j] += a[i * n + k] * b[k * n + j];
}

static double matmul(int n)
{
    std::vector<double> a(n * n, 1.0), b(n * n, 2.0), c(n * n, 0.0);
    {
        py::gil_scoped_release nogil;
        multiply(a, b, c, n);
    }
    return c[0];
}

PYBIND11_MODULE(matmul_pb, m)
{
    m.def("matmul", &matmul, "c[0] of an n x n product, computed without the GIL");
}
