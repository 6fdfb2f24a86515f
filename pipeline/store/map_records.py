"""The records of which input each map of a cache is (cache_format.md, ``maps/``): source, label,
split, metadata and, with per-map masks, the map's own mask file. They are written when maps are
added, before any is computed (a run then computes exactly the maps they name), and a damaged
chunk of them cannot be recomputed. Part of ``pipeline.store.cache.Cache``.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from pipeline.errors import InputError
from pipeline.io.inputs import InputSpec, input_identity
from pipeline.store.format import PLANNER_RECORDS
from pipeline.store.zarr_io import chunk_reads

DAMAGED_PLANNER_RECORDS = "the records of which input each map is are damaged; rebuild the cache with --overwrite"


class MapRecords:
    """The planner-written records of an open cache; mixed into ``Cache``, whose group, record
    names (``records``), array handles and run marking (``begin_run``) they use."""

    def planner_records(self, name: str) -> np.ndarray:
        """Planner record `name` (PLANNER_RECORDS, or "mask") of every map; InputError if a chunk no longer decodes."""
        blocks = []
        for _, values, error in chunk_reads(self.array(f"maps/{name}")):
            if error:
                raise InputError(f"{error}: {DAMAGED_PLANNER_RECORDS}")
            blocks.append(values)
        return np.concatenate(blocks)[: self.n_maps] if blocks else np.empty(0, dtype=self.array(f"maps/{name}").dtype)

    def sources(self) -> list[str]:
        return [str(s) for s in self.planner_records("source")]

    def own_masks(self) -> list[str]:
        """Each map's own mask file ("" none; every map of a cache without per-map masks)."""
        return [str(s) for s in self.planner_records("mask")] if "mask" in self.records else [""] * self.n_maps

    def add_maps(self, specs: list[InputSpec]) -> list[int]:
        """Indices of `specs` in the cache: known sources keep theirs (their label, split and own
        mask must agree), new ones are appended with their planner-written records. The number of
        maps is the length of maps/status, extended only after the new maps' records are written."""
        identities = [input_identity(s.source) for s in specs]
        counts = Counter(identities)
        repeated = [s.source for s, key in zip(specs, identities) if counts[key] > 1]
        if repeated:
            raise InputError(f"{repeated[0]}: duplicate input (each map may be given once)")
        known = {input_identity(s): i for i, s in enumerate(self.sources())}
        labels = self.planner_records("label") if known else np.empty(0)
        splits = self.planner_records("split") if known else np.empty(0)
        masks = self.own_masks() if known else []
        new = [(s, key) for s, key in zip(specs, identities) if key not in known]
        for s, key in zip(specs, identities):
            if key in known:
                i = known[key]
                if (s.label if s.label is not None else -1) != labels[i] or (s.split or "") != splits[i]:
                    raise InputError(
                        f"{s.source} is in the cache with label {labels[i]} and split {splits[i]!r}; the inputs now "
                        f"say label {s.label} and split {s.split!r}: use a new output store or --overwrite"
                    )
                if (s.mask or "") != masks[i]:
                    raise InputError(f"{s.source} is in the cache with mask {masks[i]!r}; the inputs now say {s.mask or ''!r}: use a new output store or --overwrite")
        start, n = self.n_maps, self.n_maps + len(new)
        self._arrays.clear()  # handles are about to change shape
        planner_first = [*self.layout.row_shapes, *(f"maps/{r}" for r in self.records if r != "status")]
        resized = [name for name in planner_first if self.group[name].shape[0] != n]  # longer only after an interrupted append
        if new or resized:
            self.begin_run()  # the inputs are valid, the cache is about to change
        for name in resized:
            self.group[name].resize((n, *self.group[name].shape[1:]))
        if new:
            region = slice(start, n)
            self.group["maps/source"][region] = np.array([s.source for s, _ in new], dtype=object)
            self.group["maps/label"][region] = np.array([-1 if s.label is None else s.label for s, _ in new])
            self.group["maps/split"][region] = np.array([s.split or "" for s, _ in new], dtype=object)
            self.group["maps/metadata"][region] = np.array([json.dumps(s.metadata, sort_keys=True) for s, _ in new], dtype=object)
            if "mask" in self.records:
                self.group["maps/mask"][region] = np.array([s.mask or "" for s, _ in new], dtype=object)
            self.group["maps/status"].resize((n,))  # last: the maps exist once their records do
            known.update({key: start + k for k, (_, key) in enumerate(new)})
        self._arrays.clear()
        return [known[key] for key in identities]

    def input_specs(self) -> list[InputSpec]:
        """The inputs as the planner recorded them (source, label, split, metadata, own mask), by cache index."""
        columns = [self.planner_records(name) for name in PLANNER_RECORDS]
        return [
            InputSpec(source=str(source), label=None if label < 0 else int(label), split=str(split) or None,
                      metadata=json.loads(str(metadata)), mask=mask or None)
            for source, label, split, metadata, mask in zip(*columns, self.own_masks())
        ]

