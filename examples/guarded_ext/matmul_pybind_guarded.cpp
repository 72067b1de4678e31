// matmul_pb, guarded: the pybind11 form of matmul_ext.  finirace::gil_scoped_release
// replaces py::gil_scoped_release: finalization waits for the computation (within a
// bound), and a thread that comes back too late is parked instead of being killed
// inside a noexcept destructor.  FiniRace_Setup registers the wait at exit.
#include <pybind11/pybind11.h>
#include <vector>
#include "finirace_guard.h"

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
        finirace::gil_scoped_release nogil;
        multiply(a, b, c, n);
    }
    return c[0];
}

PYBIND11_MODULE(matmul_pb, m)
{
    if (FiniRace_Setup() < 0) throw py::error_already_set();
    m.def("matmul", &matmul, "c[0] of an n x n product, computed without the GIL");
}
