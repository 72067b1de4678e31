/* A stand-in for CPython 3.15's <Python.h>, to compile finirace_guard.h's 3.15 branch
 * before a 3.15 is installed: the real headers of an installed release, with
 * PY_VERSION_HEX raised to 3.15, and PEP 788's API declared as merged (gh-149101):
 * opaque guard, view and token types, handed out as pointers, NULL for a refusal.
 * Declarations only, written from the PEP's specification: nothing here is defined,
 * so a program built with it compiles but cannot link.
 *
 * FR_MUTATE picks one wrong signature, for the test that shows a mismatch between the
 * header's mapping and the API fails to compile. */
#include_next <Python.h>

#ifndef FR_MUTATE
#define FR_MUTATE 0 /* the API as merged */
#endif

#undef PY_VERSION_HEX
#define PY_VERSION_HEX 0x030F00A0 /* 3.15.0a0 */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct PyInterpreterGuard PyInterpreterGuard;
typedef struct PyInterpreterView PyInterpreterView;
typedef struct PyThreadStateToken PyThreadStateToken;

/* interpreter guards: while one is held, the interpreter does not finalize */
PyAPI_FUNC(PyInterpreterGuard *) PyInterpreterGuard_FromCurrent(void); /* attached; NULL + exception */
#if FR_MUTATE == 1
PyAPI_FUNC(PyThreadStateToken *) PyInterpreterGuard_FromView(PyInterpreterView *view);
#else
PyAPI_FUNC(PyInterpreterGuard *) PyInterpreterGuard_FromView(PyInterpreterView *view); /* any thread; NULL */
#endif
PyAPI_FUNC(void) PyInterpreterGuard_Close(PyInterpreterGuard *guard);

/* interpreter views: name an interpreter without keeping it alive */
PyAPI_FUNC(PyInterpreterView *) PyInterpreterView_FromCurrent(void); /* attached; NULL + exception */
PyAPI_FUNC(PyInterpreterView *) PyInterpreterView_FromMain(void);
PyAPI_FUNC(void) PyInterpreterView_Close(PyInterpreterView *view);

/* attach and detach a thread state under a guard */
#if FR_MUTATE == 2
PyAPI_FUNC(PyThreadStateToken *) PyThreadState_Ensure(PyInterpreterView *view);
#else
PyAPI_FUNC(PyThreadStateToken *) PyThreadState_Ensure(PyInterpreterGuard *guard);
#endif
PyAPI_FUNC(PyThreadStateToken *) PyThreadState_EnsureFromView(PyInterpreterView *view);
#if FR_MUTATE == 3
PyAPI_FUNC(void) PyThreadState_Release(PyInterpreterGuard *guard);
#else
PyAPI_FUNC(void) PyThreadState_Release(PyThreadStateToken *token);
#endif

#ifdef __cplusplus
}
#endif
