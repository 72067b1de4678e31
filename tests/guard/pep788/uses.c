/* Every name of finirace_guard.h, used as an extension would, compiled as C and as C++
 * against the PEP 788 stand-in (Python.h here): each FiniRace type must be PEP 788's,
 * and each call must fit the API's signatures.  Compiled, never linked or run. */
#include "finirace_guard.h"

#if PY_VERSION_HEX < 0x030F0000
#error "the stand-in Python.h was not the one included"
#endif

#ifdef __cplusplus
#include <type_traits>
static_assert(std::is_same<FiniRaceGuard, PyInterpreterGuard>::value, "FiniRaceGuard is PEP 788's guard");
static_assert(std::is_same<FiniRaceView, PyInterpreterView>::value, "FiniRaceView is PEP 788's view");
static_assert(std::is_same<FiniRaceToken, PyThreadStateToken>::value, "FiniRaceToken is PEP 788's token");
#else
_Static_assert(__builtin_types_compatible_p(FiniRaceGuard, PyInterpreterGuard), "FiniRaceGuard is PEP 788's guard");
_Static_assert(__builtin_types_compatible_p(FiniRaceView, PyInterpreterView), "FiniRaceView is PEP 788's view");
_Static_assert(__builtin_types_compatible_p(FiniRaceToken, PyThreadStateToken), "FiniRaceToken is PEP 788's token");
#endif

int fr_use_guards(void);
void fr_use_foreign_thread(void);
int fr_use_allow_threads(void);

int fr_use_guards(void)
{
    if (FiniRace_Setup() < 0) return -1;
    FiniRace_SetExitTimeout(1.5);
    FiniRaceGuard *g = FiniRaceGuard_FromCurrent();
    FiniRaceView *v = FiniRaceView_FromCurrent();
    FiniRaceGuard *h = FiniRaceGuard_FromView(v);
    FiniRaceToken *t = FiniRace_Ensure(h);
    FiniRace_Release(t);
    FiniRaceGuard_Close(h);
    FiniRaceView_Close(v);
    FiniRaceGuard_Close(g);
    return g == NULL;
}

void fr_use_foreign_thread(void)
{
    FiniRaceView *view = FiniRaceView_FromMain();
    FiniRaceToken *token = FiniRace_EnsureFromView(view);
    FiniRaceView_Close(view);
    if (token == NULL) return;
    FiniRace_Release(token);
}

int fr_use_allow_threads(void)
{
    FiniRaceAllow a = FiniRace_BeginAllowThreads();
    if (FiniRace_EndAllowThreads(&a) < 0) return -1;
    FINIRACE_BEGIN_ALLOW_THREADS
    FINIRACE_END_ALLOW_THREADS_OR(FiniRace_ParkThread())
    return 0;
}

#ifdef __cplusplus
bool fr_use_raii() noexcept;
bool fr_use_raii() noexcept
{
    {
        finirace::gil_scoped_release nogil;
        if (!nogil.restore()) return false;
    }
    finirace::gil_scoped_release parked_if_late;  /* the destructor restores */
    finirace::gil_scoped_acquire gil;
    return gil.ok();
}
#endif
