"""HTK Standard Lattice Format (SLF) in and out: one lattice per file, plain or gzipped, validated.

Read (the HTK book's SLF, the parts recognisers write):
- header `key=value` lines before the counts: `VERSION`, `UTTERANCE`, `base` (the log base of the
  scores: default e; `base=10` is converted to natural log; `base=0`: the scores are probabilities,
  taken as ln), `lmscale`, `wdpenalty`, `acscale`, `start`, `end` (node ids; default the one node
  without incoming / outgoing links), and any other header field (kept, unused);
- the counts `N=nodes L=links` (or `NODES=`, `LINKS=`), before any node or link;
- node lines `I=id [t=time] [W=word] [v=variant] …` and link lines `J=id S=from E=to [W=word]
  [a=acoustic] [l=language] [p=posterior] …` (long names `START`, `END`, `WORD`, `acoustic`,
  `language`, `time`, `posterior` too). A link's word is its own `W=`, else its end node's `W=`
  (words on nodes, as PocketSphinx writes them), else `!NULL`. `#` starts a comment line.
  Fields are `name=value` separated by blanks; a value may be double-quoted (`W="new york"`).

Checked, each a one-line `InputError` naming the file, the line and the field: unknown or
malformed fields, a node or link line before the counts, ids that are not integers, out of
`[0, N)`/`[0, L)` or given twice, a link to a node never defined, scores that are not finite
numbers, fewer nodes or links than the counts say, `SUBLAT` (sub-lattices are not supported),
no start or end node, a cycle, an end that cannot be reached from the start. Size: the counts are
checked against `max_links`/`max_nodes` (default 2,000,000 each) *before* anything is stored,
and the links are kept in typed arrays (about 40 bytes a link), so memory is bounded by the cap.

Write: `write_slf` (links carrying words, `a=`, `l=`; the rescored lattices of `rescore.py`).
Not here: what the words mean to a language model (`words.py`), searching (`search.py`).
"""

from __future__ import annotations

import gzip
import math
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wordlm.errors import InputError, where
from wordlm.text import read_lines

MAX_LINKS = 2_000_000
MAX_NODES = 2_000_000
NULL = "!NULL"

_NODE_KEYS = {"I": "I", "t": "t", "time": "t", "W": "W", "WORD": "W", "v": "v", "var": "v", "s": "s",
              "d": "d", "div": "d", "L": "L"}
_LINK_KEYS = {"J": "J", "S": "S", "START": "S", "E": "E", "END": "E", "W": "W", "WORD": "W", "a": "a",
              "acoustic": "a", "l": "l", "language": "l", "n": "n", "ngram": "n", "r": "r", "p": "p",
              "posterior": "p", "v": "v", "var": "v", "d": "d", "div": "d", "s": "s"}
_HEADER_NUMBERS = ("base", "lmscale", "wdpenalty", "acscale", "tscale", "prscale", "ngscale")


@dataclass
class Lattice:
    """A word lattice: nodes 0…N-1, links with a word index (into `words`) and scores in natural log.

    `link_word[j]` indexes `words` (`words[0] == "!NULL"`); `acoustic`, `lm` <float64>[links] (0
    where the file gives none; `has_lm`: some link had `l=`); `times` <float64>[nodes] (NaN where
    none); `start`, `end`: node ids; `header`: the header fields as written (strings).
    """

    name: str
    start: int
    end: int
    times: np.ndarray
    link_start: np.ndarray
    link_end: np.ndarray
    link_word: np.ndarray
    acoustic: np.ndarray
    lm: np.ndarray
    words: list[str]
    header: dict[str, str] = field(default_factory=dict)
    has_lm: bool = False

    @property
    def num_nodes(self) -> int:
        return len(self.times)

    @property
    def num_links(self) -> int:
        return len(self.link_start)

    @property
    def utt_id(self) -> str:
        """`UTTERANCE=` of the header, else the file name up to its first `.`."""
        utt = self.header.get("UTTERANCE")
        return utt if utt else Path(self.name).name.split(".")[0] or self.name

    @property
    def lmscale(self) -> float:
        return float(self.header.get("lmscale", 1.0))


_FIELD = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)(?=\s|$)')


def _fields(name, number, line):
    """`name=value` fields separated by blanks; a value may be double-quoted with `\\` escapes."""
    out, pos = [], 0
    while pos < len(line):
        if line[pos].isspace():
            pos += 1
            continue
        m = _FIELD.match(line, pos)
        if not m:
            part = line[pos:].split()[0]
            raise InputError(f"{name}:{number}: field {part[:30]!r} is not name=value")
        key, value = m.group(1), m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((key, value))
        pos = m.end()
    return out


def _int(name, number, key, value, limit=None, what="id") -> int:
    try:
        x = int(value)
    except ValueError:
        raise InputError(f"{name}:{number}: field {key}={value[:30]!r}: expected an integer {what}") from None
    if x < 0 or (limit is not None and x >= limit):
        bound = f" in [0, {limit})" if limit is not None else " >= 0"
        raise InputError(f"{name}:{number}: field {key}={value[:30]}: expected an integer {what}{bound}")
    return x


def _float(name, number, key, value) -> float:
    try:
        x = float(value)
    except ValueError:
        raise InputError(f"{name}:{number}: field {key}={value[:30]!r}: expected a number") from None
    if not math.isfinite(x):
        raise InputError(f"{name}:{number}: field {key}={value[:30]}: expected a finite number")
    return x


def read_slf(path, max_links: int = MAX_LINKS, max_nodes: int = MAX_NODES) -> Lattice:
    """The lattice of an SLF file (plain, `.gz`, or `-`), validated (see the module docstring)."""
    name = where(path)
    header: dict[str, str] = {}
    n_nodes = n_links = None
    header_line: dict[str, int] = {}
    words: dict[str, int] = {NULL: 0}
    node_word = node_time = node_seen = None
    link_start = link_end = link_word = link_seen = None
    acoustic = lm = None
    has_lm = False
    nodes_read = links_read = 0
    log_scale = 1.0  # ln(base)
    as_probability = False

    def word_index(w: str) -> int:
        i = words.get(w)
        if i is None:
            i = words[w] = len(words)
        return i

    def score(number, key, value) -> float:
        x = _float(name, number, key, value)
        if as_probability:
            if x <= 0:
                raise InputError(f"{name}:{number}: field {key}={value[:30]}: base=0 means probabilities; "
                                 "expected a number > 0")
            return math.log(x)
        return x * log_scale

    for number, line in read_lines(path):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        fields = _fields(name, number, s)
        first = fields[0][0]
        if first in ("I", "J") and n_nodes is None:
            raise InputError(f"{name}:{number}: field {first}: a node or link before the counts line "
                             "N=nodes L=links")
        if first == "I":
            values = {}
            for key, value in fields:
                k = _NODE_KEYS.get(key)
                if k is None:
                    raise InputError(f"{name}:{number}: field {key!r}: not a node field (I, t, W, v, s, d)")
                if k == "L":
                    raise InputError(f"{name}:{number}: field L: sub-lattices (SUBLAT) are not supported")
                values[k] = value
            i = _int(name, number, "I", values["I"], n_nodes, "node id")
            if node_seen[i]:
                raise InputError(f"{name}:{number}: field I={i}: node {i} defined twice")
            node_seen[i] = 1
            nodes_read += 1
            if "t" in values:
                node_time[i] = _float(name, number, "t", values["t"])
            if "W" in values:
                node_word[i] = word_index(values["W"])
            continue
        if first == "J":
            values = {}
            for key, value in fields:
                k = _LINK_KEYS.get(key)
                if k is None:
                    raise InputError(f"{name}:{number}: field {key!r}: not a link field (J, S, E, W, a, l, n, r, p, v, d)")
                values[k] = value
            j = _int(name, number, "J", values["J"], n_links, "link id")
            if link_seen[j]:
                raise InputError(f"{name}:{number}: field J={j}: link {j} defined twice")
            link_seen[j] = 1
            links_read += 1
            for k in ("S", "E"):
                if k not in values:
                    raise InputError(f"{name}:{number}: field {k}: missing (every link needs S=from and E=to)")
            link_start[j] = _int(name, number, "S", values["S"], n_nodes, "node id")
            link_end[j] = _int(name, number, "E", values["E"], n_nodes, "node id")
            if "W" in values:
                link_word[j] = word_index(values["W"])
            if "a" in values:
                acoustic[j] = score(number, "a", values["a"])
            if "l" in values:
                lm[j] = score(number, "l", values["l"])
                has_lm = True
            for k in ("n", "r", "p"):
                if k in values:
                    _float(name, number, k, values[k])
            continue
        # a header line, or the counts
        keys = {k for k, _ in fields}
        if keys & {"N", "L", "NODES", "LINKS"}:
            if n_nodes is not None:
                raise InputError(f"{name}:{number}: field N: a second counts line")
            got = {("N" if k in ("N", "NODES") else "L" if k in ("L", "LINKS") else k): v for k, v in fields}
            for k in ("N", "L"):
                if k not in got:
                    raise InputError(f"{name}:{number}: field {k}: missing from the counts line (N=nodes L=links)")
            n_nodes = _int(name, number, "N", got["N"], None, "count")
            n_links = _int(name, number, "L", got["L"], None, "count")
            if n_nodes > max_nodes or n_links > max_links:
                raise InputError(f"{name}:{number}: field {'N' if n_nodes > max_nodes else 'L'}: "
                                 f"{n_nodes:,} nodes and {n_links:,} links is over the cap of {max_nodes:,} nodes "
                                 f"and {max_links:,} links (--max-links)")
            if n_nodes == 0:
                raise InputError(f"{name}:{number}: field N=0: a lattice needs nodes")
            node_word = array("i", [0]) * n_nodes
            node_time = array("d", [math.nan]) * n_nodes
            node_seen = bytearray(n_nodes)
            link_start = array("i", [0]) * n_links
            link_end = array("i", [0]) * n_links
            link_word = array("i", [-1]) * n_links
            acoustic = array("d", [0.0]) * n_links
            lm = array("d", [0.0]) * n_links
            link_seen = bytearray(n_links)
            continue
        if n_nodes is not None:
            raise InputError(f"{name}:{number}: field {first!r}: expected a node (I=) or link (J=) line after the counts")
        for key, value in fields:
            if key == "SUBLAT":
                raise InputError(f"{name}:{number}: field SUBLAT: sub-lattices are not supported")
            if key in _HEADER_NUMBERS:
                _float(name, number, key, value)
            header[key] = value
            header_line[key] = number
        if "base" in header:
            b = float(header["base"])
            as_probability = b == 0
            if not as_probability and (b <= 0 or b == 1):
                raise InputError(f"{name}:{header_line['base']}: field base={header['base']}: expected 0 "
                                 "(probabilities) or a log base > 0 other than 1")
            log_scale = 1.0 if as_probability else math.log(b)
    if n_nodes is None:
        raise InputError(f"{name}: no counts line N=nodes L=links (not an SLF lattice?)")
    if nodes_read != n_nodes:
        missing = node_seen.index(0)
        raise InputError(f"{name}: field N={n_nodes}: only {nodes_read} nodes defined (node {missing} is missing)")
    if links_read != n_links:
        missing = link_seen.index(0)
        raise InputError(f"{name}: field L={n_links}: only {links_read} links defined (link {missing} is missing)")
    starts = np.frombuffer(link_start, dtype=np.int32).copy()
    ends = np.frombuffer(link_end, dtype=np.int32).copy()
    lw = np.frombuffer(link_word, dtype=np.int32).copy()
    nw = np.frombuffer(node_word, dtype=np.int32)
    lw = np.where(lw < 0, nw[ends] if n_links else lw, lw).astype(np.int32)
    start = _end_node(name, header, header_line, "start", n_nodes, starts, ends)
    end = _end_node(name, header, header_line, "end", n_nodes, starts, ends)
    return Lattice(name, start, end, np.frombuffer(node_time, dtype=np.float64).copy(), starts, ends, lw,
                   np.frombuffer(acoustic, dtype=np.float64).copy(), np.frombuffer(lm, dtype=np.float64).copy(),
                   list(words), header, has_lm)


def _end_node(name, header, header_line, which, n_nodes, starts, ends) -> int:
    """The `start`/`end` node: the header's, else the only node without incoming/outgoing links."""
    if which in header:
        return _int(name, header_line[which], which, header[which], n_nodes, "node id")
    has = np.zeros(n_nodes, dtype=bool)
    has[ends if which == "start" else starts] = True
    free = np.flatnonzero(~has)
    if len(free) != 1:
        side = "incoming" if which == "start" else "outgoing"
        raise InputError(f"{name}: field {which}: not given, and {len(free)} nodes have no {side} links "
                         f"(give {which}=NODE in the header)")
    return int(free[0])


def _quote(word: str) -> str:
    if word and not any(c.isspace() or c in "\"'\\" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_slf(nodes_times, links, header: dict[str, str]) -> str:
    """SLF text: `header` lines, the counts, `I=i t=…` per node, `J=j S= E= W= a= l=` per link.

    `links`: (start, end, word, acoustic, lm) tuples; scores natural log (`base` is not written: e)."""
    out = ["VERSION=1.0"]
    out += [f"{k}={_quote(str(v))}" for k, v in header.items() if k != "VERSION"]
    out.append(f"N={len(nodes_times)}\tL={len(links)}")
    for i, t in enumerate(nodes_times):
        out.append(f"I={i}" + ("" if t is None or (isinstance(t, float) and math.isnan(t)) else f"\tt={t:.2f}"))
    for j, (s, e, w, a, lm) in enumerate(links):
        out.append(f"J={j}\tS={s}\tE={e}\tW={_quote(w)}\ta={a:.6f}\tl={lm:.6f}")
    return "\n".join(out) + "\n"


def write_slf(path, text: str) -> None:
    """Write SLF text to `path` (gzipped when it ends in `.gz`), atomically."""
    from wordlm.saving import write_atomic

    data = text.encode("utf-8")
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    write_atomic(path, data)
