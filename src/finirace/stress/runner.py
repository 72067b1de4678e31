"""A stress campaign: many runs of one command, in parallel, every result stored as it ends.

Executors: by default a local pool of threads, each driving one target
process at a time (the targets are the processes; the threads only wait on
them, and one coordinator process keeps the subreaper and the store writer in
one place).  With a Dask address, the same :func:`~finirace.stress.execute.execute_run`
is submitted to the cluster and results flow back here, into the same store.

Resume: run indices are ``0 .. N-1``; the pending ones are those without a
row in the store, so a campaign killed with ``kill -9`` resumes with exactly
the missing runs.  A time-bounded campaign (``--time``) continues from its
highest index for the new time budget.  Opening and resuming follow the one
shape every campaign has (:mod:`finirace.campaign`); each run comes back as a
:class:`~finirace.records.StressRunRecord` holding its whole outcome.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import re
import shlex
import shutil
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Mapping, Sequence

from finirace import campaign as campaigns
from finirace import detectors
from finirace.errors import UsageError
from finirace.records import StressRunRecord
from finirace.store import STRESS, Bucket, Campaign, Store
from finirace.stress.execute import RunSpec, execute_run
from finirace.stress.perturb import Perturbation


@dataclass(frozen=True)
class CampaignSettings:
    """What a campaign runs and how; stored with it so a resume runs the same."""

    argv: tuple[str, ...]
    runs: int | None = None
    seconds: float | None = None
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    timeout: float = 60.0
    perturbation: Perturbation = field(default_factory=Perturbation)
    detector: str = "plain"
    seed: int = 0
    dask: str | None = None
    cwd: str | None = None  # where the command runs (default: here); stored absolute
    env: tuple[tuple[str, str], ...] = ()  # variables for the target (--env, and PYTHON*/LD_* found set)

    def options(self) -> dict[str, Any]:
        p = self.perturbation
        return {"perturb": p.level, "detector": self.detector, "timeout": self.timeout, "seed": self.seed,
                "cwd": self.cwd, "env": dict(self.env)}


# variables of finirace's own environment that shape how a target interpreter runs: kept
# with the campaign and written into its reproduction commands (others go with --env)
_TARGET_ENV = re.compile(r"PYTHON\w*|LD_LIBRARY_PATH|LD_PRELOAD")
_OWN_ENV = {"PYTHONFAULTHANDLER"}  # finirace sets it in every run itself


def target_environment(given: Sequence[tuple[str, str]] = (), environ: Mapping[str, str] | None = None
                       ) -> tuple[tuple[str, str], ...]:
    """The variables a campaign runs its target with: PYTHON*/LD_* set here, then the ones given (which win)."""
    environ = os.environ if environ is None else environ
    found = {k: v for k, v in environ.items() if _TARGET_ENV.fullmatch(k) and k not in _OWN_ENV}
    found.update(given)
    return tuple(sorted(found.items()))


def resolve_command(argv: Sequence[str], cwd: str) -> tuple[str, ...]:
    """The command with its program and every argument naming an existing file made absolute.

    So that a reproduction command works pasted anywhere (``python prog.py``
    becomes ``/usr/bin/python3 /home/me/proj/prog.py``); other arguments are
    left as they are.
    """
    if not argv:
        return ()
    exe = argv[0]
    if os.sep in exe:
        exe = os.path.normpath(os.path.join(cwd, exe))
    else:
        exe = shutil.which(exe) or exe
    rest = [os.path.normpath(os.path.join(cwd, a)) if not a.startswith("-") and not os.path.isabs(a)
            and os.path.isfile(os.path.join(cwd, a)) else a for a in argv[1:]]
    return (exe, *rest)


@dataclass(frozen=True)
class Progress:
    """The state of a campaign after a run ended."""

    done: int
    total: int | None
    elapsed: float
    failures: int
    buckets: tuple[tuple[str, int], ...]  # (signature, count), most frequent first
    last: StressRunRecord | None = None
    new_bucket: Bucket | None = None
    session: int = 0  # runs this process made (``done`` counts every stored run: resumed, other processes')

    @property
    def rate(self) -> float:
        """Runs a second made by this session: a resume's earlier runs are not counted over its time."""
        return self.session / self.elapsed if self.elapsed > 0 else 0.0


def repro_command(campaign: Campaign, seed: int) -> str:
    """One line that replays a run with its seed, from any directory and shell.

    The command is the campaign's (absolute), run in the campaign's directory
    (``--cwd``) with the variables it gave its target (``--env``).
    """
    o = campaign.options
    # the level this run got: a mixed campaign's reproduction runs all at it
    level = Perturbation(level=str(o.get("perturb", "python"))).for_run(seed).level
    parts = ["finirace", "stress", "--runs", "20", "--seed", str(seed), "--perturb", level]
    if o.get("cwd"):
        parts += ["--cwd", str(o["cwd"])]
    for k, v in sorted((o.get("env") or {}).items()):
        parts += ["--env", f"{k}={v}"]
    if o.get("detector", "plain") != "plain":
        parts += ["--detector", str(o["detector"])]
    if float(o.get("timeout", 60.0)) != 60.0:  # a hang is a hang only within the same limit
        parts += ["--timeout", f"{float(o['timeout']):g}"]
    return shlex.join([*parts, "--", *campaign.argv])


LEASE_MARGIN = 120.0  # seconds a claim outlasts a run's own limit (gdb's backtraces, the kill, storing)
DEFAULT_RUNS = 100  # a new campaign given neither --runs nor --time


def open_campaign(store: Store, name: str, settings: CampaignSettings) -> tuple[Campaign, CampaignSettings]:
    """Create the campaign, or load it to resume (its stored command and options win).

    A usage error when ``name`` is another kind's campaign, runs another
    command, or does not exist and ``settings`` gives no command to start it.
    """
    cwd = os.path.abspath(settings.cwd or os.getcwd())
    settings = replace(settings, cwd=cwd, argv=resolve_command(settings.argv, cwd))
    if store.campaign(name) is None:
        if not settings.argv:
            raise UsageError(f"no campaign named {name!r} to resume, and no command after --")
        if settings.runs is None and settings.seconds is None:
            settings = replace(settings, runs=DEFAULT_RUNS)

    def fits(existing: Campaign) -> str | None:
        if settings.argv and tuple(settings.argv) != existing.argv:
            return (f"campaign {name!r} runs {' '.join(existing.argv)!r}; resume it without a command or pick a "
                    "new name")
        return None

    opened = campaigns.open_campaign(store, name, STRESS, argv=settings.argv, options=settings.options(),
                                     target_runs=settings.runs, fits=fits)
    if not opened.resumed:
        return opened.campaign, settings
    existing = opened.campaign
    o = existing.options
    resumed = replace(
        settings,
        argv=existing.argv,
        perturbation=replace(settings.perturbation, level=o.get("perturb", "python")),  # before mix: python
        detector=o.get("detector", "plain"),
        timeout=float(o.get("timeout", settings.timeout)),
        seed=int(o.get("seed", 0)),
        # campaigns stored before these were kept ran here, with this environment
        cwd=o.get("cwd") or settings.cwd,
        env=tuple(sorted((o.get("env") or {}).items())) if "env" in o else settings.env,
    )
    if settings.runs is not None and settings.seconds is None and existing.target_runs != settings.runs:
        store.set_target_runs(existing.id, settings.runs)
    if settings.runs is None and settings.seconds is None:
        resumed = replace(resumed, runs=existing.target_runs or DEFAULT_RUNS)
    return existing, resumed


def run_campaign(
    store: Store,
    campaign: Campaign,
    settings: CampaignSettings,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Run the pending runs of a campaign; each result is stored the moment it arrives."""
    start = time.monotonic()
    deadline = start + settings.seconds if settings.seconds is not None else None
    opened = campaigns.OpenCampaign(store, campaign, True)
    # the indices below the run count without a stored run or another live process's claim; with
    # --time, on from the highest stored or claimed one; each claimed in the store as it is taken
    lease = settings.timeout * detectors.get(settings.detector).slowdown + LEASE_MARGIN
    pending = opened.pending(settings.runs if settings.seconds is None else None, lease=lease)
    total = settings.runs if settings.seconds is None else None
    session = 0  # runs this process stored: the rate is theirs over this session's time

    def progress(record: StressRunRecord | None = None, new_bucket: Bucket | None = None) -> Progress:
        # what is stored, so that several processes sharing the campaign all count the same
        counts = {b.signature: b.count for b in store.buckets(campaign.id)}
        ranked = tuple(sorted(counts.items(), key=lambda kv: -kv[1]))
        return Progress(store.run_count(campaign.id), total, time.monotonic() - start, sum(counts.values()), ranked,
                        record, new_bucket, session=session)

    def spec(i: int) -> RunSpec:
        return RunSpec(
            argv=campaign.argv,
            index=i,
            seed=settings.seed + i,
            timeout=settings.timeout,
            perturbation=settings.perturbation,
            detector=settings.detector,
            env=settings.env,
            cwd=settings.cwd,
        )

    def handle(record: StressRunRecord) -> Progress:
        nonlocal session
        bucket = store.record_run(campaign.id, record, repro_command(campaign, record.seed) if record.signature else "")
        session += 1
        p = progress(record, bucket if bucket is not None and bucket.count == 1 else None)
        if on_progress is not None:
            on_progress(p)
        return p

    def more() -> bool:
        return deadline is None or time.monotonic() < deadline

    last = progress()
    try:
        if settings.dask:
            for record in _dask_results(settings, pending, spec, more):
                last = handle(record)
            return last
        return _local(settings, pending, spec, more, handle, last)
    finally:
        opened.release()  # indices claimed and not run (interrupted, out of time) go back at once


def _local(settings: CampaignSettings, pending: Iterator[int], spec: Callable[[int], RunSpec],
           more: Callable[[], bool], handle: Callable[[StressRunRecord], Progress], last: Progress) -> Progress:
    """Run on local threads, each driving one target process at a time."""
    with cf.ThreadPoolExecutor(max_workers=settings.jobs, thread_name_prefix="finirace-run") as pool:
        inflight: set[cf.Future[StressRunRecord]] = set()
        exhausted = False
        try:
            while True:
                while not exhausted and len(inflight) < settings.jobs and more():
                    i = next(pending, None)
                    if i is None:
                        exhausted = True
                        break
                    inflight.add(pool.submit(execute_run, spec(i)))
                if not inflight:
                    break
                finished, inflight = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    last = handle(fut.result())
        finally:
            for fut in inflight:
                fut.cancel()
    return last


DASK_CONNECT_SECONDS = 5  # distributed waits 30 s by default: a typo in an address should not cost that


def _dask_results(
    settings: CampaignSettings, pending: Iterator[int], spec: Callable[[int], RunSpec], more: Callable[[], bool]
) -> Iterator[StressRunRecord]:
    """Run on a Dask cluster, keeping every worker thread busy; yield records as they end."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise UsageError("--dask needs the dask extra: pip install 'finirace[dask]'") from exc

    try:
        client = Client(settings.dask, timeout=DASK_CONNECT_SECONDS)
    except ValueError as exc:  # the address does not parse (the command checks first; this is the backstop)
        raise UsageError(f"--dask {settings.dask}: not a scheduler address ({exc})") from None
    except (OSError, TimeoutError):
        raise UsageError(f"--dask {settings.dask}: no Dask scheduler answered there within "
                         f"{DASK_CONNECT_SECONDS} s") from None
    with client:  # as_completed needs it as the default client
        slots = max(sum(client.nthreads().values()), 1)
        first = []
        for i in pending:
            first.append(client.submit(execute_run, spec(i), pure=False, key=f"finirace-run-{i}-{uuid.uuid4().hex}"))
            if len(first) >= slots or not more():
                break
        if not first:
            return
        queue = as_completed(first)
        live = len(first)
        exhausted = False

        def fill() -> None:
            nonlocal live, exhausted
            while not exhausted and live < slots and more():
                i = next(pending, None)
                if i is None:
                    exhausted = True
                    return
                queue.add(client.submit(execute_run, spec(i), pure=False, key=f"finirace-run-{i}-{uuid.uuid4().hex}"))
                live += 1

        for fut in queue:
            live -= 1
            yield fut.result()
            fill()


def check_repro(store: Store, campaign: Campaign, bucket: Bucket, runs: int = 20,
                on_progress: Callable[[Progress], None] | None = None) -> str:
    """Run a bucket's reproduction command (as a campaign of its own) and say how often it reproduced the bucket.

    The runs are what the command makes: the campaign's command, directory,
    variables, detector and time limit, ``runs`` seeds from the seed of the
    bucket's first run, at that run's perturbation level.  The answer is
    stored on the bucket (``reproduced 3/20 when checked 2026-11-30 14:58
    (campaign NAME); the others: clean 11, timeout 6``) and returned.
    """
    first = next(store.runs(campaign.id, bucket.id), None)
    if first is None:
        return ""
    o = campaign.options
    level = Perturbation(level=str(o.get("perturb", "python"))).for_run(first.seed).level
    settings = CampaignSettings(
        argv=campaign.argv, runs=runs, timeout=float(o.get("timeout", 60.0)), seed=first.seed,
        perturbation=Perturbation(level=level), detector=str(o.get("detector", "plain")),
        cwd=o.get("cwd"), env=tuple(sorted((o.get("env") or {}).items())),
    )
    name = campaigns.new_name(store, f"{campaign.name}-check{bucket.id}")
    checked, settings = open_campaign(store, name, settings)
    run_campaign(store, checked, settings, on_progress)
    kinds: dict[str, int] = {}
    hits = 0
    for r in store.runs(checked.id):
        if r.signature == bucket.signature:
            hits += 1
        else:
            kinds[r.kind.value] = kinds.get(r.kind.value, 0) + 1
    others = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    text = (f"reproduced {hits}/{runs} when checked {time.strftime('%Y-%m-%d %H:%M')} (campaign {name})"
            + (f"; the others: {others}" if others else ""))
    store.set_repro_check(bucket.id, text)
    return text
