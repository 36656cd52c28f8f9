"""How a distributed run of the project's tools ends once it has finished.

A 2-process CPU run (``tools/dist_train.sh CONFIG 2``) could abort after
training and validation had finished, at interpreter exit: ``terminate called
without an active exception``, signal 6, and torchrun reports the run FAILED
(exit status 1). What makes that possible:

* the gloo backend runs each process group's collectives on C++ threads
  (``pt_gloo_runloop``, ``gloo_tcp_loop``) that end only when the group is
  destroyed in C++;
* ``destroy_process_group`` does not get there when a model was wrapped in
  DDP: the wrapper keeps references to the group that outlive the model
  (torch 2.14), so the threads live on into the interpreter's teardown;
* a C++ thread that touches Python while the interpreter finalizes is ended
  by it (``take_gil`` calls ``pthread_exit``), and the unwinding through C++
  code ends in ``std::terminate``: the message above. A core dump of it here:
  a gloo worker thread releasing a tensor that Python code had handed to a
  collective (``~AsyncAllgatherWork`` -> ``TensorImpl::decref_pyobject`` ->
  GIL) while the main thread was in ``Py_FinalizeEx``. A worker releases its
  collective's tensors right after completing it, so a run ends this way only
  when a worker thread is delayed past the end of the run (a loaded
  machine): rare. Forced with an asynchronous all-gather still running at
  exit, about half of the runs abort so, or crash in the exit handlers.

:func:`exit_finished_run` makes the exit status the run's: once the run has
finished, it closes the process group, lets the runner's resources go while
Python is intact, flushes the logs and leaves without the teardown. A run that
fails raises before it and exits as before.
"""
import gc
import logging
import os
import sys

from .config import close_distributed


def exit_finished_run() -> None:
    """End a process of a finished distributed run: exit status 0, without
    the interpreter's teardown; outside a process group, return at once.

    Call it last, after dropping the runner: its dataloader workers and
    files are released here (``gc``) while Python is intact.
    """
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    close_distributed()
    gc.collect()
    logging.shutdown()  # flushes and closes the log files, as at a normal exit
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


__all__ = ['exit_finished_run']
