"""Make real word lattices to measure lattice rescoring on (`benchmarks/lattices.md`): ATIS **dev**
references (never test) synthesised with espeak-ng, decoded by PocketSphinx into HTK SLF lattices.

    python benchmarks/make_lattices.py [--utterances 200] [--out runs/lattices] [--seed 1]

For each chosen utterance (a seeded sample of `nbest/atis/dev.json`'s references): a voice and a
speed drawn (seeded) from a few espeak-ng voices and speeds, the audio resampled to 16 kHz by `sox`,
decoded by PocketSphinx (pip package, its bundled US-English acoustic model, dictionary and generic
trigram LM), and its lattice written with `Lattice.write_htk` (gzipped). PocketSphinx's SLF has the
words on the nodes (`!SENT_START`, `!SENT_END`, `!NULL` for fillers), `a=` and a posterior `p=` on
the links, and no LM score. Decoding settings: forward-tree search only (`fwdflat=False`), at most
2,500 HMMs a frame, top-3 Gaussians: ~2 s an utterance on a loaded 2-core machine (the defaults,
~7 s, give the same 1-best on the utterances tried).

Writes under OUT: `slf/UTT.slf.gz`; `{tune,test}.refs` (Kaldi text: `UTT w1 w2 …`); `{tune,test}.list`
(lattice paths, one a line); `{tune,test}.first_pass` (PocketSphinx's own 1-best, `UTT w1 …`);
`meta.jsonl` (voice, speed, seconds of audio, decode seconds, lattice nodes/links per utterance).
Tune on the first half (tune), report on the other (test): the halves are a seeded split.
Prints one JSON line per utterance and a summary line; logs go to stderr.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = next((d for d in (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data") if d.is_dir()),
            ROOT.parent / "shared" / "data")  # ../shared/data; a worktree under /work/wt: ../../shared/data
VOICES = ("en-us", "en-us+f3", "en-gb", "en-us+m3")
SPEEDS = (140, 160, 175)


def synthesise(text: str, voice: str, speed: int, tmp: Path) -> bytes:
    """16 kHz 16-bit mono raw PCM of `text` spoken by espeak-ng."""
    wav, raw = tmp / "u.wav", tmp / "u.raw"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True)
    subprocess.run(["sox", str(wav), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", str(raw)],
                   check=True)
    return raw.read_bytes()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--utterances", type=int, default=200)
    p.add_argument("--out", default=str(ROOT / "runs" / "lattices"))
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    from pocketsphinx import Decoder

    out = Path(args.out)
    (out / "slf").mkdir(parents=True, exist_ok=True)
    dev = json.loads((DATA / "nbest" / "atis" / "dev.json").read_text())  # tune split: never test.json
    rng = random.Random(args.seed)
    chosen = rng.sample(dev, min(args.utterances, len(dev)))
    half = len(chosen) // 2
    parts = {"tune": chosen[:half], "test": chosen[half:]}
    decoder = Decoder(fwdflat=False, maxhmmpf=2500, topn=3, loglevel="FATAL")
    total_start = time.time()
    links = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        meta = open(out / "meta.jsonl", "w")
        for part, utts in parts.items():
            refs, lists, firsts = [], [], []
            for u in utts:
                utt, ref = u["id"], " ".join(u["output"].split())
                voice, speed = rng.choice(VOICES), rng.choice(SPEEDS)
                audio = synthesise(ref, voice, speed, tmp)
                start = time.time()
                decoder.start_utt()
                decoder.process_raw(audio, full_utt=True)
                decoder.end_utt()
                seconds = time.time() - start
                hyp = decoder.hyp()
                lattice = decoder.get_lattice()
                slf = out / "slf" / f"{utt}.slf.gz"
                plain = tmp / "l.slf"
                lattice.write_htk(str(plain))
                data = plain.read_bytes()
                with gzip.open(slf, "wb") as f:
                    f.write(data)
                counts = re.search(rb"^N=(\d+)\s+L=(\d+)", data, re.M)
                n_nodes, n_links = int(counts.group(1)), int(counts.group(2))
                links.append(n_links)
                refs.append(f"{utt} {ref}")
                lists.append(str(slf))
                firsts.append(f"{utt} {hyp.hypstr if hyp is not None else ''}")
                rec = {"utt_id": utt, "part": part, "voice": voice, "speed": speed,
                       "audio_s": round(len(audio) / 32000, 2), "decode_s": round(seconds, 2),
                       "nodes": n_nodes, "links": n_links}
                meta.write(json.dumps(rec) + "\n")
                meta.flush()
                print(json.dumps(rec), flush=True)
            (out / f"{part}.refs").write_text("\n".join(refs) + "\n")
            (out / f"{part}.list").write_text("\n".join(lists) + "\n")
            (out / f"{part}.first_pass").write_text("\n".join(firsts) + "\n")
        meta.close()
    links.sort()
    print(json.dumps({"utterances": len(chosen), "tune": len(parts["tune"]), "test": len(parts["test"]),
                      "median_links": links[len(links) // 2], "max_links": links[-1],
                      "seconds": round(time.time() - total_start, 1)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
