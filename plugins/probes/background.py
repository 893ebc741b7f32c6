"""The thread primitive of prefetching: one probe fetched in a daemon thread, its value or error handed over later."""

import threading


class Background:
    """One probe running in a daemon thread; :meth:`result` waits for it and returns its value or raises its error.

    A daemon thread: a probe hung past every timeout never keeps the run from ending.
    """

    def __init__(self, name, function):
        self._done = threading.Event()
        self._value = self._error = None
        threading.Thread(target=self._run, args=(function,), name=f"probe {name}", daemon=True).start()

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
