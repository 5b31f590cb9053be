"""The pip lock (`requirements.lock`) and the conda environment that must install the same pins.

`requirements.lock` is written by pip-compile (`make lock`); `environment.yml` is generated from
it by `cotchar env-yml`, and a test checks that the two name exactly the same pins.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")

# The lock pins PyTorch's CPU build (+cpu); outside this machine pip finds it on PyTorch's CPU index.
TORCH_CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines: list[str]) -> dict[str, str]:
    """`name==version` pins of a requirements file (comments and options ignored)."""
    pins = {}
    for line in lines:
        m = _PIN.match(line.strip())
        if m:
            pins[normalize_name(m.group(1))] = m.group(2)
    return pins


def lock_pins(path: Path | str = "requirements.lock") -> dict[str, str]:
    return parse_pins(Path(path).read_text().splitlines())


def environment_pins(path: Path | str = "environment.yml") -> tuple[str, dict[str, str]]:
    """The Python version and the pip pins of a conda environment file."""
    env = yaml.safe_load(Path(path).read_text())
    python, pip_lines = None, []
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict) and "pip" in dep:
            pip_lines += dep["pip"]
        elif isinstance(dep, str) and dep.startswith("python"):
            python = dep.split("=", 1)[1] if "=" in dep else ""
    return python or "", parse_pins(pip_lines)


def environment_yml(lock: Path | str = "requirements.lock") -> str:
    """The conda environment file for the pins in `lock`."""
    pins = lock_pins(lock)
    pip_pins = [f"{n}=={v}" for n, v in sorted(pins.items()) if n not in ("pip",)]
    lines = [
        "# Generated from requirements.lock by `make lock` (cotchar env-yml); do not edit by hand.",
        "name: cotchar",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        f"  - pip={pins['pip']}" if "pip" in pins else "  - pip",
        "  - pip:",
        f"      - {TORCH_CPU_INDEX}",
        *[f"      - {p}" for p in pip_pins],
        "      - -e .",
    ]
    return "\n".join(lines) + "\n"
