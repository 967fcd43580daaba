"""``contact-center ivr check [DIR]`` and ``contact-center ivr prompts [DIR]``."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from contact_center.ivr.menus import LMap, check_directory, load_yaml_with_lines, menu_files

# espeak-ng voices per menu language; prompts are converted to what Asterisk plays natively.
VOICES = {"en": "en-us", "ru": "ru"}
SAMPLE_RATE = 8000


class PromptError(Exception):
    """A prompt could not be generated (espeak-ng or sox missing or failing)."""


def add_arguments_cmd_ivr(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ivr_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate the menu files (file:line: reason)")
    check.add_argument("dir", nargs="?", help="menus directory (default: [agi] menus_dir)")
    prompts = sub.add_parser("prompts", help="generate prompt WAVs with espeak-ng")
    prompts.add_argument("dir", nargs="?", help="menus directory (default: [agi] menus_dir)")
    prompts.add_argument("--force", action="store_true", help="regenerate existing files")


def _menus_dir(args: argparse.Namespace) -> Path:
    if args.dir:
        return Path(args.dir)
    from contact_center.config import load_settings

    return Path(load_settings(getattr(args, "config", None)).agi.menus_dir)


def cmd_ivr(args: argparse.Namespace) -> int:
    directory = _menus_dir(args)
    if not directory.is_dir():
        print(f"{directory}: not a directory", file=sys.stderr)
        return 2
    if args.ivr_command == "check":
        return check(directory, str(args.dir or directory))
    return generate_prompts(directory, force=args.force)


def check(directory: Path, shown: str) -> int:
    """Print every problem as ``file:line: reason``; exit 1 when there is any."""
    menus, errors = check_directory(directory, shown.rstrip("/"))
    for error in errors:
        print(error)
    names = ", ".join(sorted(menus.menus)) or "none"
    print(f"{len(menus.menus)} menu file(s) usable: {names}; {len(errors)} problem(s)")
    return 1 if errors else 0


def declared_prompts(directory: Path) -> dict[tuple[str, str], str]:
    """(language, prompt path) -> text, from every file that parses."""
    out: dict[tuple[str, str], str] = {}
    for path in menu_files(directory):
        try:
            data = load_yaml_with_lines(path.read_text(encoding="utf-8"))
        except Exception:  # a broken file is reported by `ivr check`, not here
            continue
        prompts = data.get("prompts") if isinstance(data, LMap) else None
        if not isinstance(prompts, dict):
            continue
        for name, texts in prompts.items():
            if not isinstance(texts, dict) or ".." in str(name) or str(name).startswith("/"):
                continue
            for lang, text in texts.items():
                out[(str(lang), str(name))] = str(text)
    return out


def synthesize(text: str, language: str, target: Path) -> None:
    """Speak ``text`` into an 8 kHz mono 16-bit WAV at ``target``."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        raise PromptError("espeak-ng and sox are needed (make sysdeps)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        voice = VOICES.get(language, language)
        subprocess.run(
            [espeak, "-v", voice, "-s", "150", "-w", str(raw), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            [sox, str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(target)],
            check=True,
            capture_output=True,
            timeout=60,
        )


def generate_prompts(directory: Path, *, force: bool = False) -> int:
    made = kept = 0
    for (lang, name), text in sorted(declared_prompts(directory).items()):
        target = directory / "prompts" / lang / f"{name}.wav"
        if target.exists() and not force:
            kept += 1
            continue
        try:
            synthesize(text, lang, target)
        except (PromptError, subprocess.SubprocessError, OSError) as exc:
            print(f"{target}: {exc}", file=sys.stderr)
            return 1
        made += 1
    print(f"prompts: {made} generated, {kept} already there, in {directory / 'prompts'}")
    return 0
