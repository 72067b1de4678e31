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
