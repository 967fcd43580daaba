"""Which extensions.conf files a simulator runs: the capture rig's or the one we ship."""

from __future__ import annotations

from pathlib import Path

from contact_center.sim.dialplan.parser import DialplanConfig, DialplanError, load

ROOT = Path(__file__).resolve().parents[3]
RIG = (
    ROOT / "tests" / "fixtures" / "asterisk-config" / "extensions.conf",
    ROOT / "tests" / "fixtures" / "asterisk-config-more" / "extensions-more.conf",
)
SHIPPED = (ROOT / "deploy" / "asterisk" / "extensions.conf",)
RIG_QUEUES = (
    ROOT / "tests" / "fixtures" / "asterisk-config" / "queues.conf",
    ROOT / "tests" / "fixtures" / "asterisk-config-more" / "queues-more.conf",
)
SHIPPED_QUEUES = (ROOT / "deploy" / "asterisk" / "queues.conf",)
RIG_FEATURES = ROOT / "tests" / "fixtures" / "asterisk-config" / "features.conf"
SHIPPED_FEATURES = ROOT / "deploy" / "asterisk" / "features.conf"
_CACHE: dict[tuple[Path, ...], tuple[tuple[float, ...], DialplanConfig]] = {}


def files_for(choice: str) -> tuple[Path, ...]:
    """``rig``, ``shipped`` or the path of an extensions.conf → the files to load."""
    if choice == "rig":
        return RIG
    if choice == "shipped":
        return SHIPPED
    return (Path(choice),)


def queue_files_for(choice: str) -> tuple[Path, ...]:
    """The queues.conf files that go with a dial plan choice (none found: empty)."""
    files: tuple[Path, ...]
    if choice == "rig":
        files = RIG_QUEUES
    elif choice == "shipped":
        files = SHIPPED_QUEUES
    else:
        files = (Path(choice).parent / "queues.conf",)
    return tuple(f for f in files if f.is_file())


def features_file_for(choice: str) -> Path:
    """The features.conf that goes with a dial plan choice (beside a given extensions.conf)."""
    if choice == "rig":
        return RIG_FEATURES
    if choice == "shipped":
        return SHIPPED_FEATURES
    return Path(choice).parent / "features.conf"


def load_dialplan(choice: str) -> DialplanConfig:
    """The parsed dial plan (parsed once per file set while the files are unchanged)."""
    files = files_for(choice)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DialplanError(f"dial plan {choice!r}: no such file {', '.join(missing)}")
    stamps = tuple(f.stat().st_mtime for f in files)
    cached = _CACHE.get(files)
    if cached is None or cached[0] != stamps:
        cached = (stamps, load(*files))
        _CACHE[files] = cached
    return cached[1]
