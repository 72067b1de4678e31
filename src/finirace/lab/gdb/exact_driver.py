# The driver of an exact schedule: runs inside gdb, never imported by finirace.
#
#   gdb -nx -batch -x THIS_FILE ./prog
#
# finirace writes the plan (PLAN, below) into this driver, in one file,
# so a bug report can carry the C program and this script and nothing else.
#
# How it orders threads: scheduler-locking is on from the first instruction, so
# only the selected thread runs.  Each segment of the plan selects one scenario
# thread and continues it alone until it reaches the breakpoint of the place
# where the model switches away from it: the beginning of a scenario step (a
# line of the generated program) or a line inside CPython (a line of the
# interpreter's own line table, armed once the thread is inside that step).
# New threads start running when they are created; a breakpoint at each
# thread's entry stops them there, and the driver goes on with the thread it
# was running.  After the last segment every thread runs free.
#
# A segment that does not reach its place (the thread blocked for good, the
# program ended or took a signal first) is reported as such and the rest of
# the plan is not run: the run is then not exact, and finirace says so.
import json
import subprocess
import threading

import gdb

MARK = "==finirace-exact=="
FAULT_MARK = "==finirace-faulting=="
ALL_MARK = "==finirace-all-threads=="
PLAN = {}  # finirace writes the plan here

state = {"stop": None, "exited": None}


def say(text):
    gdb.write(f"{MARK} {text}\n")
    gdb.flush()


def on_stop(event):
    state["stop"] = event


def on_exit(event):
    state["exited"] = getattr(event, "exit_code", None)


def run(command):
    return gdb.execute(command, to_string=True)


def show_threads():
    gdb.write(f"\n{FAULT_MARK}\n")
    gdb.execute("bt")
    gdb.write(f"\n{ALL_MARK}\n")
    gdb.execute("thread apply all bt")
    gdb.flush()


class Driver:
    def __init__(self, plan):
        self.plan = plan
        self.names = plan["threads"]
        self.gdb_thread = {}  # scenario thread index -> gdb thread number
        self.entry_of = {}  # breakpoint number -> scenario thread index (C threads)
        self.python_entry = None  # the breakpoint where Python threads start
        self.python_children = list(plan.get("python_children", []))

    # -- start ----------------------------------------------------------------
    def start(self):
        for cmd in ("set pagination off", "set confirm off", "set breakpoint pending on",
                    "handle SIGPIPE nostop noprint pass", "set print thread-events off"):
            run(cmd)
        for name, value in self.plan.get("environment", {}).items():
            run(f"set environment {name}={value}")
        valgrind = self.plan.get("valgrind")
        if valgrind:
            prog = gdb.current_progspace().filename
            self.server = subprocess.Popen([*valgrind, prog])
            say(f"valgrind started (pid {self.server.pid}); gdb connects through vgdb")
            # the libraries are this machine's: read them here, not through the remote protocol
            run("set sysroot /")
            run(f"target remote | vgdb --wait=60 --pid={self.server.pid}")
        else:
            self.server = None
            run("starti")
        run("set scheduler-locking on")
        self.gdb_thread[0] = gdb.selected_thread().num
        for index, spec in self.plan.get("entries", {}).items():
            bp = gdb.Breakpoint(spec)
            self.entry_of[bp.number] = int(index)
        if self.plan.get("python_entry"):
            self.python_entry = gdb.Breakpoint(self.plan["python_entry"])

    # -- threads ----------------------------------------------------------------
    def register(self, event, thread):
        # An entry breakpoint is deleted once it served: resuming a thread from a
        # breakpoint needs a step over it, which vgdb's gdbserver cannot do for one
        # thread alone (gdb 13 asserts in finish_step_over).
        for bp in event.breakpoints:
            if bp.number in self.entry_of:
                self.gdb_thread.setdefault(self.entry_of.pop(bp.number), thread.num)
                bp.delete()
            elif self.python_entry is not None and bp.number == self.python_entry.number:
                known = set(self.gdb_thread.values())
                if thread.num not in known and self.python_children:
                    self.gdb_thread[self.python_children.pop(0)] = thread.num
                if not self.python_children:
                    bp.delete()
                    self.python_entry = None

    def select(self, index):
        if index not in self.gdb_thread:
            known = set(self.gdb_thread.values())
            run("info threads")  # a remote target tells of new threads when asked
            new = [t.num for t in gdb.selected_inferior().threads() if t.num not in known]
            if len(new) != 1:
                say(f"cannot tell which gdb thread is {self.names[index]} ({len(new)} unknown threads)")
                return False
            self.gdb_thread[index] = new[0]
        run(f"thread {self.gdb_thread[index]}")
        return True

    # -- one segment --------------------------------------------------------------
    def until(self, index, bp, what):
        """Continue one thread alone until it hits ``bp``; False when it cannot."""
        stall = float(self.plan.get("stall", 10))
        while True:
            if not self.select(index):
                return False
            state["stop"] = None
            timer = threading.Timer(stall, lambda: gdb.post_event(lambda: run("interrupt")))
            timer.start()
            try:
                gdb.execute("continue")
            finally:
                timer.cancel()
            event = state["stop"]
            if state["exited"] is not None or event is None:
                say(f"the program ended before {self.names[index]} reached {what}")
                return False
            thread = gdb.selected_thread()
            if isinstance(event, gdb.BreakpointEvent):
                if any(b.number == bp.number for b in event.breakpoints) and thread.num == self.gdb_thread[index]:
                    return True
                self.register(event, thread)
                continue
            if isinstance(event, gdb.SignalEvent):
                if event.stop_signal == "SIGINT":
                    say(f"stalled: {self.names[index]} did not reach {what} within {stall:g} s")
                else:
                    say(f"{event.stop_signal} before {self.names[index]} reached {what}")
                show_threads()
                return False

    def segment(self, number, seg):
        index, stop = seg["thread"], seg["stop"]
        name = self.names[index]
        say(f"segment {number}: {name} runs {seg['runs']}; stops {stop['why']}")
        if stop.get("arm"):
            arm = gdb.Breakpoint(stop["arm"])
            arm.thread = self.gdb_thread.get(index) or None
            ok = self.until(index, arm, f"the beginning of {stop['step']}")
            arm.delete()
            if not ok:
                return False
        bp = gdb.Breakpoint(stop["at"])
        if index in self.gdb_thread:
            bp.thread = self.gdb_thread[index]
        bp.ignore_count = int(stop.get("skip", 0))
        ok = self.until(index, bp, stop["why"])
        bp.delete()
        if ok:
            frame = gdb.selected_frame()
            sal = frame.find_sal()
            where = f"{sal.symtab.filename}:{sal.line}" if sal.symtab else hex(frame.pc())
            say(f"reached: {name} in {frame.name()} at {where}")
            gdb.write(run("info threads"))
        return ok

    # -- the whole plan -------------------------------------------------------------
    def main(self):
        self.start()
        segments = self.plan["segments"]
        done = 0
        for number, seg in enumerate(segments, 1):
            if seg["stop"] is None:
                break
            if not self.segment(number, seg):
                say(f"not exact: segment {number} of {len(segments)} did not reach its place")
                self.finish(exact=False)
                return
            done = number
        say(f"exact: {done} place(s) reached; every thread runs free from here")
        self.finish(exact=True)

    def finish(self, exact):
        if state["exited"] is not None:
            return
        for bp in gdb.breakpoints():
            bp.delete()
        if exact:
            run("set scheduler-locking off")
            state["stop"] = None
            gdb.execute("continue")
            event = state["stop"]
            if state["exited"] is None and isinstance(event, gdb.SignalEvent):
                show_threads()
        if state["exited"] is None:
            if self.server is not None:
                run("kill")
                self.server.wait()
            else:
                run("kill")


gdb.events.stop.connect(on_stop)
gdb.events.exited.connect(on_exit)
Driver(PLAN).main()
