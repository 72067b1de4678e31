/* After Py_Initialize in a program that starts Python threads: the thread that runs init
 * imports threading first, so threading._main_thread is that thread, as in a Python
 * program.  Were the first import made by a helper thread inside start_thread, that
 * helper would become _main_thread, and from 3.9 on wait_for_thread_shutdown ->
 * threading._shutdown, called by the finalizing thread, would join it as a non-daemon
 * thread (bpo-1596321): a wait in Py_FinalizeEx that a Python program never meets and
 * the model does not have. */
static void fr_import_threading(void)
{
    PyObject *mod = PyImport_ImportModule("threading");
    if (mod == NULL) PyErr_Print();
    Py_XDECREF(mod);
}

/* threading.Thread(target=entry, daemon=True).start(); the caller holds the GIL. */
static void fr_start_python_thread(PyMethodDef *def)
{
    PyObject *fn = PyCFunction_New(def, NULL);
    PyObject *mod = PyImport_ImportModule("threading");
    PyObject *cls = mod ? PyObject_GetAttrString(mod, "Thread") : NULL;
    PyObject *args = PyTuple_New(0);
    PyObject *kw = Py_BuildValue("{s:O,s:O}", "target", fn, "daemon", Py_True);
    PyObject *th = (cls && args && kw) ? PyObject_Call(cls, args, kw) : NULL;
    PyObject *r = th ? PyObject_CallMethod(th, "start", NULL) : NULL;
    if (r == NULL) PyErr_Print();
    Py_XDECREF(r); Py_XDECREF(th); Py_XDECREF(kw); Py_XDECREF(args);
    Py_XDECREF(cls); Py_XDECREF(mod); Py_XDECREF(fn);
}

/* Python code starts the thread (a python_thread step): the entry is bound in __main__ and
 * PyRun_SimpleString runs threading.Thread(target=entry, daemon=True).start(), so a refusal
 * (3.12+: RuntimeError while finalizing) is raised in Python and printed, as for any code. */
static void fr_python_start_thread(PyMethodDef *def)
{
    char code[200];
    PyObject *fn = PyCFunction_New(def, NULL);
    PyObject *mod = PyImport_AddModule("__main__"); /* borrowed */
    if (fn == NULL || mod == NULL || PyObject_SetAttrString(mod, def->ml_name, fn) != 0) {
        PyErr_Print();
        Py_XDECREF(fn);
        return;
    }
    Py_DECREF(fn);
    snprintf(code, sizeof code, "import threading\nthreading.Thread(target=%s, daemon=True).start()\n", def->ml_name);
    PyRun_SimpleString(code);
}
