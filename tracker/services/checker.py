"""Checking an import file in a second process while this one writes it.

An import spends about a quarter of its time checking documents against the schema and the
entry rules, work that needs no database. For a large file (`PARALLEL_FROM`) a child process
runs the same `jsonio.DocumentParser` over the same text and sends back, for every document,
what it found: its problems, whether it could be converted at all, and (on SQLite, while every
patient is new) the state the import will cache for the patient, evaluated with the record ids
it will be given (`surveillance.NewPatientStates`). The importing process decodes (without
looking for repeated keys: the child refuses such a text, and its message is the one raised)
and converts the documents without checking them (`DocumentParser.parse(checks=False)`);
before it writes a chunk it has the verdicts on every document in it, so nothing is written
after the first problem and every problem is reported, in file order, exactly as when one
process does both (tests/test_files.py runs every import test both ways).

The child is forked on Linux (it shares the file's text and the loaded modules, and leaves with
`os._exit`, never closing what it inherited, such as the database connection, which it never
touches); elsewhere it is spawned. If it cannot be started the import checks in-process. If the
importing process is killed, the child's next send fails and it leaves (until then, on
PostgreSQL, its inherited copy of the connection's socket keeps the killed import's transaction
and locks open on the server: the moment it takes the child to finish a batch).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from tracker import jsonio
from tracker.errors import ValidationError
from tracker.services.surveillance import NewPatientStates, Prediction

#: a JSON text at least this long (characters) is checked in a second process
PARALLEL_FROM = 2_000_000
#: documents per message from the checker
BATCH = 25
#: batches received ahead of the importing process, at most
AHEAD = 80
#: seconds a stopped child has to leave after SIGTERM before it is killed
STOP_WAIT = 10.0

Problems = list[tuple[str, str]]
#: what the checker found in one document: its problems, whether it could be converted, and the
#: state of a new patient evaluated ahead (None: the importing process evaluates it)
Verdict = tuple[Problems, bool, Prediction | None]
_STOPPED = ("the second process checking the file stopped before it had finished{kind}; nothing was "
            "written. Run the import again")


def _child(text: str, name: str, today: date, states: NewPatientStates | None, conn: Any, parents_end: Any) -> None:
    """The child process. It first closes its copy of the parent's end of the pipe, so that if
    the importing process dies (killed), the child's next send fails and it leaves, instead of
    waiting forever on a pipe only it could still read (which would also hold its parent's
    output pipes open). It takes the default SIGTERM and SIGINT actions whatever it inherited,
    so that the parent can always stop it."""
    parents_end.close()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _check(text, name, today, conn, states)


def _check(text: str, name: str, today: date, conn: Any, states: NewPatientStates | None = None) -> None:
    """The child: parse every document with every check and send, in batches, one `Verdict` per
    document, then "end"."""
    parser = jsonio.DocumentParser(today=today)
    batch: list[Verdict] = []
    last: Any = "end"
    try:
        for where, d in jsonio.DocumentStream(text, name):
            before = len(parser.problems)
            ip = parser.parse(where, d, check_schema=True)
            ahead = (states.predict(ip.patient, ip.records, problems=bool(parser.problems))
                     if states is not None and ip is not None else None)
            batch.append((parser.problems[before:], ip is not None, ahead))
            if len(batch) == BATCH:
                conn.send(batch)
                batch = []
    except ValidationError as exc:  # an unreadable text: the verdicts so far, then the problem
        last = ("unreadable", exc.problems)
    except BaseException as exc:  # never a traceback on the user's terminal; the kind of failure
        last = ("failed", type(exc).__name__)  # only (a message could quote the file)
        batch = []  # perhaps half sent already; the importer stops at "failed" anyway
    with contextlib.suppress(BaseException):  # the parent may be gone
        conn.send(batch)
        conn.send(last)
    conn.close()


class Checker:
    """The verdicts of the child process, document by document (`next()`). A thread of this
    process keeps reading them from the pipe into a bounded queue, so that the child works up to
    `AHEAD` batches ahead while this process writes (a full pipe would stop it)."""

    def __init__(self, conn: Any, proc: Any) -> None:
        self.conn = conn
        self.proc = proc
        self.ready: deque[Verdict] = deque()
        self.batches: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)
        self.stop = threading.Event()
        self.reader = threading.Thread(target=self._read, name="import-checker-reader", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                msg = self.conn.recv()
            except BaseException:  # end of file (the child left), or anything else: stopped
                msg = ("failed", "")
            while not self.stop.is_set():
                try:
                    self.batches.put(msg, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if not isinstance(msg, list):
                return

    def _message(self) -> Any:
        msg = self.batches.get()
        if not isinstance(msg, list):
            self.batches.put(msg)  # the last word: the same for any later call
        return msg

    def next(self) -> Verdict:
        """The verdict on the next document, waiting for the child if it has not got there."""
        while not self.ready:
            msg = self._message()
            if isinstance(msg, list):
                self.ready.extend(msg)
            else:
                self._raise(msg)  # "end" before this document cannot happen: the same text
        return self.ready.popleft()

    def finish(self) -> None:
        """After the last document: the child's last word must be that it read to the end (a
        problem it found after the last document is raised here)."""
        msg = self._message()
        while msg == []:  # the child's last batch may be empty
            msg = self._message()
        if isinstance(msg, list):  # verdicts on documents this process did not read: not the same reading
            self._raise(("failed", ""))
        if msg != "end":
            self._raise(msg)

    @staticmethod
    def _raise(msg: Any) -> None:
        if isinstance(msg, tuple) and msg[0] == "unreadable":  # e.g. a key given twice in an object
            raise ValidationError(msg[1])
        kind = f" ({msg[1]})" if isinstance(msg, tuple) and msg[1] else ""
        raise ValidationError(_STOPPED.format(kind=kind), "FILE")

    def close(self) -> None:
        self.stop.set()
        self.reader.join()


def parallel(text: str) -> bool:
    """Whether `checking` checks this text in a second process."""
    return len(text) >= PARALLEL_FROM


@contextmanager
def checking(text: str, name: str, today: date, states: NewPatientStates | None = None
             ) -> Iterator[Checker | None]:
    """A `Checker` for a large text (None for a small one, or when no process can be started);
    the child is stopped when the block ends, however it ends. With `states`, it also evaluates
    the new patients' states ahead."""
    if not parallel(text):
        yield None
        return
    # fork with no other thread running (the reader thread starts after it): Python 3.12 warns
    # about forking a threaded process
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    try:
        receive, send = ctx.Pipe(duplex=False)
    except OSError:  # no descriptors left: check in this process
        yield None
        return
    proc = ctx.Process(target=_child, args=(text, name, today, states, send, receive), daemon=True)
    try:
        proc.start()
    except Exception:  # no process can be started here (limits, spawn cannot pickle): in this process
        receive.close()
        send.close()
        yield None
        return
    send.close()  # the child's end: closed here so that its exit is seen as end of file
    checker = Checker(receive, proc)
    try:
        yield checker
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=STOP_WAIT)
        if proc.is_alive():  # it should have left on SIGTERM; never wait for it forever
            proc.kill()
            proc.join()
        checker.close()
        receive.close()
