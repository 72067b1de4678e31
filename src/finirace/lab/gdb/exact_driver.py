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
import os
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
        self.lwp = {}  # scenario thread index -> its LWP (gdb may renumber a remote thread, not its LWP)
        self.entry_of = {}  # breakpoint number -> scenario thread index (C threads)
        self.python_entry = None  # the breakpoint where Python threads start
        self.python_children = list(plan.get("python_children", []))
        self.parking = bool(plan.get("valgrind"))  # hold threads by parking them (see park)
        self.parked = {}  # scenario thread index -> its saved registers

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
            env = dict(os.environ, **self.plan.get("environment", {}))
            self.server = subprocess.Popen([*valgrind, prog], env=env)
            say(f"valgrind started (pid {self.server.pid}); gdb connects through vgdb")
            # the libraries are this machine's: read them here, not through the remote protocol
            run("set sysroot /")
            run(f"target remote | vgdb --wait=60 --pid={self.server.pid}")
            run("info threads")  # learn the main thread's own id now, not after its number changed
        else:
            self.server = None
            run("starti")
        run("set scheduler-locking on")
        self.lwp[0] = gdb.selected_thread().ptid[1]
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
                index = self.entry_of.pop(bp.number)
                self.lwp.setdefault(index, thread.ptid[1])
                bp.delete()
                if self.parking:
                    self.park(index)
            elif self.python_entry is not None and bp.number == self.python_entry.number:
                known = set(self.lwp.values())
                if thread.ptid[1] not in known and self.python_children:
                    index = self.python_children.pop(0)
                    self.lwp[index] = thread.ptid[1]
                    if self.parking:
                        self.park(index)
                if not self.python_children:
                    bp.delete()
                    self.python_entry = None

    def number(self, index):
        """The gdb thread number of a scenario thread now (None: gdb does not know it yet)."""
        run("info threads")  # a remote target tells of new threads when asked
        for t in gdb.selected_inferior().threads():
            if t.ptid[1] == self.lwp.get(index):
                return t.num
        return None

    def select(self, index):
        if index not in self.lwp:
            known = set(self.lwp.values())
            run("info threads")
            new = [t for t in gdb.selected_inferior().threads() if t.ptid[1] not in known]
            if len(new) != 1:
                if not self.parking or new:
                    say(f"cannot tell which gdb thread is {self.names[index]} ({len(new)} unknown threads)")
                return False
            self.lwp[index] = new[0].ptid[1]
        num = self.number(index)
        if num is None:
            say(f"{self.names[index]} is gone")
            return False
        run(f"thread {num}")
        return True

    def only(self, bp, index):
        """Make ``bp`` stop ``index`` alone (natively; parked threads cannot reach it anyway)."""
        if not self.parking and index in self.lwp:
            bp.thread = self.number(index)

    # -- parking (valgrind) ------------------------------------------------------
    # valgrind's gdbserver resumes every thread on continue, whatever scheduler-locking
    # says.  So a thread is held by parking it: its registers are saved here, and it is
    # sent to the program's fr_park (below its stack, past the red zone), which sleeps
    # until fr_unpark[slot] is set; at fr_park_exit its registers are put back, and it
    # goes on from the very instruction where it was parked.
    REGISTERS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
                 "r12", "r13", "r14", "r15", "eflags", "rip")

    def park(self, index):
        self.select(index)
        frame = gdb.newest_frame()
        saved = {r: int(frame.read_register(r)) & 0xFFFFFFFFFFFFFFFF for r in self.REGISTERS}
        for i in range(16):
            halves = frame.read_register(f"xmm{i}")["v2_int64"]
            saved[f"xmm{i}"] = (int(halves[0]), int(halves[1]))
        self.parked[index] = saved
        sp = ((saved["rsp"] - 512) & ~0xF) - 8  # as at a function's entry
        run(f"set var fr_unpark[{index}] = 0")
        run(f"set $rsp = {sp}")
        run(f"set $rdi = {index}")
        run("set $pc = (long) &fr_park")

    def unpark(self, index):
        saved = self.parked.pop(index)
        run(f"set var fr_unpark[{index}] = 1")
        bp = gdb.Breakpoint("fr_park_exit")
        ok = self.until(index, bp, "its parking exit", unpark=False)
        bp.delete()
        if not ok:
            return False
        run("frame 0")
        for name, value in saved.items():
            if name.startswith("xmm"):
                run(f"set var ${name}.v2_int64[0] = {value[0]}")
                run(f"set var ${name}.v2_int64[1] = {value[1]}")
            elif name != "rip":
                run(f"set ${name} = {value}")
        run(f"set $pc = {saved['rip']}")
        return True

    # -- one segment --------------------------------------------------------------
    def until(self, index, bp, what, unpark=True):
        """Continue one thread alone until it hits ``bp``; False when it cannot."""
        stall = float(self.plan.get("stall", 10))
        while True:
            if unpark and index in self.parked and not self.unpark(index):
                return False  # (it may have been parked at its entry in the last turn)
            if not self.select(index):
                if not (self.parking and index not in self.lwp):
                    return False
                # under valgrind a new thread shows once it is scheduled: everyone else is
                # parked, so let it run to its entry breakpoint, where it is registered
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
                if any(b.number == bp.number for b in event.breakpoints) and thread.ptid[1] == self.lwp.get(index):
                    return True
                self.register(event, thread)
                continue
            if isinstance(event, gdb.SignalEvent):
                if self.parking and event.stop_signal == "SIGTRAP":
                    continue  # vgdb reports a trap where a deleted breakpoint was; gdb does not pass it on
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
            ok = self.until(index, arm, f"the beginning of {stop['step']}")
            arm.delete()
            if not ok:
                return False
        bp = gdb.Breakpoint(stop["at"])
        self.only(bp, index)
        bp.ignore_count = int(stop.get("skip", 0))
        ok = self.until(index, bp, stop["why"])
        bp.delete()
        if ok:
            frame = gdb.selected_frame()
            sal = frame.find_sal()
            where = f"{sal.symtab.filename}:{sal.line}" if sal.symtab else hex(frame.pc())
            say(f"reached: {name} in {frame.name()} at {where}")
            gdb.write(run("info threads"))
            if self.parking:
                self.park(index)
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
        rest = segments[done] if done < len(segments) else None
        self.finish(exact=True, first=rest["thread"] if rest else None)

    def finish(self, exact, first=None):
        if state["exited"] is not None:
            return
        for bp in gdb.breakpoints():
            bp.delete()
        if exact and self.parked:
            # let the parked threads go, the one the plan runs next first
            order = sorted(self.parked, key=lambda i: i != first)
            for index in order:
                if not self.unpark(index):
                    say(f"could not let {self.names[index]} go")
                    exact = False
                    break
                if state["exited"] is not None:
                    return
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
