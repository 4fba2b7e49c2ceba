"""Parse and embed on a Ray cluster (``policyqa index --ray auto|ADDRESS``, extra ``[ray]``).

A thin layer over the local build: Ray Data turns the corpus' file paths into a dataset,
``map_batches`` parses each file with ``ingest.parse_path`` (the same loaders, the same
folder walk: only files ``walk_corpus`` lists, opened below the corpus root with
``O_NOFOLLOW``), and a fixed pool of actors, each holding one embedder (one GPU each where
the cluster has GPUs), embeds the texts of each file that the previous index does not
hold. The driver collects the files as they come, feeds their vectors into the build's
``EmbedStream`` (progress per file) and ``ingest.assemble``s them by source name, so the
chunk table is that of a local build; ``build.build_index`` does everything else (change
detection, targets, manifest, the generation written atomically). The workers read the
corpus at the driver's path: on a cluster of several machines it must be on a shared file
system. Ray is imported only when ``--ray`` is used.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build import chunk_settings, embedded_texts, ocr_options
from .config import Settings
from .embed import ThreadLimit, embedder_for
from .embed_stream import EmbedStream, Progress
from .errors import LoadError, PolicyQAError
from .index import IndexData, embed_key
from .ingest import CorpusError, ParsedCorpus, ParsedFile, assemble, parse_path
from .loaders import walk_corpus
from .vector_cache import key_digests

INSTALL_HINT = "--ray needs Ray: install policyqa[ray] (pip install 'policyqa[ray]')"


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - the [data] part of the extra
    except ImportError:
        raise PolicyQAError(INSTALL_HINT) from None
    return ray


def connect(address: str = "auto"):
    """Join a Ray cluster: ``auto`` is ``ray.init()``'s own choice (the cluster
    ``RAY_ADDRESS`` names, else one ``ray start`` ran on this machine, else a new local one
    with this machine's CPUs and GPUs); anything else is an address (``host:port`` or
    ``ray://host:10001``). Already connected: kept."""
    ray = import_ray()
    if not ray.is_initialized():
        if address == "auto":
            ray.init(include_dashboard=False, log_to_driver=False)  # (the dashboard: only if it starts one)
        else:
            ray.init(address=address)
    return ray


@dataclass(frozen=True)
class RayOptions:
    """``actors``: embedding actors (None: one per GPU, else one per CPU of the cluster);
    ``threads``: threads each actor's embedder uses (0: as the library decides)."""

    address: str = "auto"
    actors: int | None = None
    threads: int = 0


def _parse_batch(batch: dict[str, np.ndarray], root: str, settings: Settings) -> dict[str, np.ndarray]:
    """Paths → pickled ``ParsedFile``s (a file that cannot be read comes back skipped)."""
    out = []
    for path in batch["path"]:
        pf = parse_path(Path(path), Path(root), chunk_settings(settings), settings.max_file_bytes,
                        ocr=ocr_options(settings))
        out.append(pickle.dumps(_portable(pf)))
    return {"file": np.array(out, dtype=object)}


def _portable(pf: ParsedFile) -> ParsedFile:
    """Load errors as plain (source, reason) pairs: exceptions do not pickle their fields."""
    return ParsedFile(pf.source, pf.sf, pf.documents, pf.chunks, [(e.source, e.reason) for e in pf.skipped])


class _Embed:
    """One embedder per actor: embeds the texts of each file the previous index lacks."""

    def __init__(self, settings: Settings, cached: np.ndarray, threads: int):
        self.embedder = embedder_for(settings)
        self.batch, self.cached, self.limit = settings.batch_size, cached, ThreadLimit(threads)

    def _known(self, keys: list[str]) -> np.ndarray:
        if not len(self.cached) or not keys:
            return np.zeros(len(keys), bool)
        d = key_digests(keys)
        at = np.minimum(np.searchsorted(self.cached, d), len(self.cached) - 1)
        return self.cached[at] == d

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for raw in batch["file"]:
            pf: ParsedFile = pickle.loads(raw)
            texts = embedded_texts(pf.chunks) if pf.sf is not None else []
            keys = [embed_key(t) for t in texts]
            todo = dict((k, t) for k, t, known in zip(keys, texts, self._known(keys)) if not known)
            order = sorted(todo, key=lambda k: len(todo[k]))
            t0, vectors = time.perf_counter(), {}
            with self.limit():
                for i in range(0, len(order), self.batch):
                    part = order[i : i + self.batch]
                    vectors.update(zip(part, self.embedder.embed_passages([todo[k] for k in part])))
            out.append(pickle.dumps((pf, vectors, time.perf_counter() - t0)))
        return {"file": np.array(out, dtype=object)}


def parse_on_ray(settings: Settings, previous: IndexData | None, stream: EmbedStream, progress: Progress,
                 options: RayOptions = RayOptions()) -> ParsedCorpus:
    """The ``parse`` of ``build.build_index`` on a Ray cluster (see the module's notes)."""
    if not settings.corpus.is_dir():
        raise CorpusError(f"corpus folder {settings.corpus} not found: give an existing folder with --corpus")
    ray = connect(options.address)
    walk = walk_corpus(settings.corpus)
    stream.files_total = max(len(walk.files), 1)
    files: list[ParsedFile] = []
    ray.data.DataContext.get_current().enable_progress_bars = False  # the build reports progress per file
    if walk.files:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actors = options.actors or gpus or max(int(ray.cluster_resources().get("CPU", 1)), 1)
        ds = ray.data.from_items([{"path": str(p)} for p in walk.files], override_num_blocks=len(walk.files))
        # parsing reserves no CPU: the actors may hold all of them, and parsing is light next to embedding
        ds = ds.map_batches(_parse_batch, batch_size=1, num_cpus=0, compute=ray.data.TaskPoolStrategy(size=actors),
                            fn_kwargs={"root": str(settings.corpus), "settings": settings})
        ds = ds.map_batches(_Embed, batch_size=1, compute=ray.data.ActorPoolStrategy(size=actors), num_gpus=1 if gpus else 0,
                            num_cpus=0 if gpus else 1,
                            fn_constructor_kwargs={"settings": settings, "cached": stream.cache.digests(),
                                                   "threads": options.threads})
        for row in ds.iter_rows():
            pf, vectors, seconds = pickle.loads(row["file"])
            pf.skipped = [LoadError(source, reason) for source, reason in pf.skipped]
            files.append(pf)
            stream.add_embedded(vectors, seconds, detail=f"{pf.source} parsed and embedded on Ray")
    return assemble(settings.corpus, files, walk.skipped)


def ray_parser(options: RayOptions = RayOptions()):
    """A ``parse`` for ``build.build_index`` that runs on the cluster ``options`` name."""
    connect(options.address)  # fails now, before any work, when Ray is missing or unreachable

    def parse(settings: Settings, previous: IndexData | None, stream: EmbedStream, progress: Progress) -> ParsedCorpus:
        return parse_on_ray(settings, previous, stream, progress, options)

    return parse
