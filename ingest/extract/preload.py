"""Imported once by the extraction pool's forkserver (see `ingest.extract.pool`), never elsewhere:
loads what every worker needs, then freezes it so the collector does not write to (and so
copy) the pages the workers share with the forkserver.

It also keeps the workers from re-running the parent's `__main__`. multiprocessing does that
in every new process, by path when the parent was started by a script (a console script such
as `airflow`), so that functions defined there can be unpickled. The workers run only
`ingest.extract.pool`'s functions, sent by name, and the parent's `__main__` can fail there: in an
Airflow task process the `airflow` script imports Airflow, whose settings fail on the
metadata database URL that the task supervisor blanks. multiprocessing has no switch for it,
so its two hooks are replaced in this forkserver and the workers it forks, nowhere else.
"""

import gc
from multiprocessing import spawn

from ingest.extract import pool


def _keep_main(main: str) -> None:
    """The worker keeps the forkserver's own `__main__` instead of the parent's `main`."""


spawn._fixup_main_from_path = _keep_main  # type: ignore[attr-defined]
spawn._fixup_main_from_name = _keep_main  # type: ignore[attr-defined]

pool.warm_up()
gc.freeze()
