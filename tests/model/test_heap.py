"""The model heap keeps both histories of a block."""

from finirace.model.heap import alloc, free
from finirace.outcome import Access


def test_alloc_and_free_record_who():
    a = Access("worker", "new_threadstate", None, ("PyGILState_Ensure",))
    f = Access("main", "zapthreads", None, ("PyInterpreterState_Delete",))
    heap, b0 = alloc((), "PyInterpreterState", a)
    heap, b1 = alloc(heap, "PyThreadState of worker", a)
    assert (b0, b1) == (0, 1)
    heap2 = free(heap, b1, f)
    assert heap[b1].alive and not heap2[b1].alive
    assert heap2[b1].freed_by == f and heap2[b1].allocated_by == a
    assert heap2[b0] is heap[b0]
    hash(heap2)
