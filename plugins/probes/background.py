"""The thread primitive of prefetching: one probe fetched in a daemon thread, its value or error handed over later.

A thread that finished its probe waits for the next one instead of ending, and a new one is started without
waiting for it to run: ``threading.Thread.start()`` blocks its caller until the new thread first holds the
interpreter lock, and with probes busy in other threads that was 3-10 ms a probe, in the main thread (a daily run
starts 9 at its start: ~70 ms; a serial fleet run 9 per target: ~1 s of 32 targets' wall). Every probe still gets
a thread of its own while it runs (an idle one, else a new one), so none ever waits for another to finish first,
and the thread carries the probe's name meanwhile (a timeout's stack dump shows it).
"""

import _thread
import queue
import threading


class _Threads:
    """Daemon threads running probes: a probe is handed to an idle one, or to a new one when none is idle."""

    def __init__(self):
        self._jobs = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a job and not yet promised one

    def run(self, name, function):
        with self._lock:
            spare = self._idle > 0
            if spare:
                self._idle -= 1  # promised this job: every job queued has a thread of its own
        self._jobs.put((name, function))
        if not spare:
            # threading.Thread.start() would wait until the new thread runs: _thread's start returns at once
            _thread.start_new_thread(self._work, ())

    def _work(self):
        this = threading.current_thread()  # known to threading from here on (a daemon), so a stack dump names it
        while True:
            name, function = self._jobs.get()
            this.name = f"probe {name}"
            function()
            this.name = "probe (idle)"
            with self._lock:
                self._idle += 1


_THREADS = _Threads()


class Background:
    """One probe running in a daemon thread; :meth:`result` waits for it and returns its value or raises its error.

    A daemon thread: a probe hung past every timeout never keeps the run from ending.
    """

    def __init__(self, name, function):
        self._done = threading.Event()
        self._value = self._error = None
        _THREADS.run(name, lambda: self._run(function))

    def _run(self, function):
        try:
            self._value = function()
        except BaseException as e:  # re-raised in the check that needs it
            self._error = e
        finally:
            self._done.set()

    def result(self):
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value
