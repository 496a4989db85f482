"""Imported once by the extraction pool's forkserver (see `ingest.worker`), never elsewhere:
loads what every worker needs, then freezes it so the collector does not write to (and so
copy) the pages the workers share with the forkserver."""

import gc

from ingest import worker

worker.warm_up()
gc.freeze()
