"""features.conf as the simulator uses it: the DTMF codes of an attended transfer.

Asterisk 22 (main/features_config.c) reads ``[general]`` ``atxferabort`` (default ``*1``),
``atxfercomplete`` (``*2``), ``atxferthreeway`` (``*3``), ``atxferswap`` (``*4``) and
``featuredigittimeout`` (1000 ms), and ``[featuremap]`` ``atxfer`` (no default). During a
consultation (main/bridge_basic.c) the transferer's DTMF is matched against the first four;
``atxfer`` is what AMI ``Atxfer`` types into the transferer's channel before the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class FeatureCodes:
    atxfer: str = ""
    abort: str = "*1"
    complete: str = "*2"
    threeway: str = "*3"
    swap: str = "*4"
    digit_timeout: float = 1.0  # seconds between the digits of one code

    def during_consultation(self) -> dict[str, str]:
        """code → what it does (abort | complete | threeway | swap); empty codes are off."""
        named = {
            "abort": self.abort,
            "complete": self.complete,
            "threeway": self.threeway,
            "swap": self.swap,
        }
        return {code: name for name, code in named.items() if code}


GENERAL_KEYS = {
    "atxferabort": "abort",
    "atxfercomplete": "complete",
    "atxferthreeway": "threeway",
    "atxferswap": "swap",
}


def parse_features(text: str) -> FeatureCodes:
    values: dict[str, str] = {}
    timeout = 1.0
    section = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            continue
        key, sep, value = line.replace("=>", "=", 1).partition("=")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if section == "general" and key in GENERAL_KEYS:
            values[GENERAL_KEYS[key]] = value
        elif section == "general" and key == "featuredigittimeout" and value.isdigit():
            timeout = int(value) / 1000
        elif section == "featuremap" and key == "atxfer":
            values["atxfer"] = value
    return FeatureCodes(**values, digit_timeout=timeout)


def load_features(path: Path | None) -> FeatureCodes:
    """The codes of ``path`` (Asterisk's defaults when there is no such file)."""
    if path is None or not path.is_file():
        return FeatureCodes()
    return parse_features(path.read_text(encoding="utf-8"))
