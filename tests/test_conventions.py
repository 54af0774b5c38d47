"""The conventions a command-line user expects (issue 14 §3): -V/--version, -h, ``python -m
scaling_cli``, shell completion, help text on every option and argument of every command,
numeric options shown with their kind, an example in every command's help, and
``scaling laws`` readable in 80 columns."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from scaling_cli.cli import app
from scaling_cli.version import __version__

ROOT_COMMAND = get_command(app)
COMMANDS: dict[str, Any] = dict(ROOT_COMMAND.commands)  # type: ignore[attr-defined]
# What click shows for an option with no metavar: the bare type name says nothing of the kind
# of number (--gpus <int>, --name <str>); a choice (<table|json|csv>) lists its values.
BARE_TYPE = re.compile(r"<(str|text|int|integer|float|path|file|filename)>", re.IGNORECASE)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def scaling_script() -> str:
    found = shutil.which("scaling", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("the `scaling` console script is not installed beside this interpreter "
                    "(pip install -e . installs it)")
    return found


# --------------------------------------------------------------------------- flags


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str) -> None:
    result = invoke(flag)
    assert result.exit_code == 0 and result.output == f"scaling-cli {__version__}\n"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_short_help_flag(command: str | None) -> None:
    args = [] if command is None else [command]
    short, long = invoke(*args, "-h"), invoke(*args, "--help")
    assert short.exit_code == 0 and short.output == long.output
    assert short.output.startswith("Usage: ")


def test_python_m_scaling_cli_is_the_command() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scaling_cli", *args], capture_output=True,
                              text=True, check=False, timeout=120)

    version = run("--version")
    assert (version.returncode, version.stdout) == (0, f"scaling-cli {__version__}\n")
    laws = run("laws")
    assert laws.returncode == 0 and laws.stdout == invoke("laws").output
    bad = run("optimal", "--law", "epoch-2024", "--budget", "lots")  # exit codes pass through
    assert bad.returncode == 2 and bad.stderr.startswith("Error: --budget: ")
    assert bad.stdout == ""


# --------------------------------------------------------------------------- completion


def test_completion_options_are_offered() -> None:
    help_text = invoke("--help").output
    assert "--install-completion" in help_text and "--show-completion" in help_text


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_a_script_for_the_shell(shell: str) -> None:
    # Typer's own switch: name the shell instead of detecting the one that runs the tests.
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run([scaling_script(), "--show-completion", shell], capture_output=True,
                          text=True, env=env, check=False, timeout=120)
    assert done.returncode == 0
    assert f"_SCALING_COMPLETE=complete_{shell}" in done.stdout.replace(" ", "")


@pytest.mark.parametrize(("words", "offered"), [
    ("scaling opt", {"optimal"}),
    ("scaling optimal --bud", {"--budget"}),
    ("scaling plot --ki", {"--kind"}),
    ("scaling plot --kind ", {"summary", "isoflop", "allocation", "residuals", "bootstrap"}),
])
def test_completion_completes_commands_options_and_choices(words: str, offered: set[str]) -> None:
    env = {**os.environ, "_SCALING_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    done = subprocess.run([scaling_script()], capture_output=True, text=True, env=env,
                          check=False, timeout=120)
    assert done.returncode == 0
    assert set(done.stdout.split()) == offered


# --------------------------------------------------------------------------- help text


def _params() -> list[tuple[str, Any]]:
    return [(name, p) for name, command in COMMANDS.items() for p in command.params]


@pytest.mark.parametrize(("command", "param"), _params(),
                         ids=[f"{c}:{p.name}" for c, p in _params()])
def test_every_option_and_argument_has_help(command: str, param: Any) -> None:
    assert (getattr(param, "help", None) or "").strip(), (
        f"scaling {command}: {param.opts[0]} has no help text")


@pytest.mark.parametrize(("command", "param"), _params(),
                         ids=[f"{c}:{p.name}" for c, p in _params()])
def test_options_taking_a_value_show_its_kind(command: str, param: Any) -> None:
    if param.param_type_name != "option" or param.is_flag:
        return
    metavar = param.make_metavar(typer.Context(COMMANDS[command]))
    assert not BARE_TYPE.fullmatch(metavar), (
        f"scaling {command}: {param.opts[0]} shows {metavar}; give it a metavar that says what "
        "it takes (COUNT, FLOPS, FRACTION, NAME, ...)")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_pages_show_no_bare_type_names(command: str) -> None:
    help_text = invoke(command, "--help").output
    assert not BARE_TYPE.search(help_text), BARE_TYPE.search(help_text)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shows_an_example(command: str) -> None:
    assert re.search(rf"Example: scaling {command}\b", invoke(command, "--help").output)


# --------------------------------------------------------------------------- laws


def test_laws_table_fits_80_columns_with_whole_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from scaling_cli.read.presets import load_presets

    monkeypatch.setenv("COLUMNS", "80")
    output = invoke("laws").output
    table = output.split("\n\n")[0].splitlines()
    assert max(len(line) for line in table) <= 80, table
    rows = {line.split()[0] for line in table[3:]}
    assert rows == set(load_presets())  # every name whole, none cut to `hoffmann-2…`
    assert "…" not in output


def test_a_published_law_answers_without_loading_the_fitting_code() -> None:
    # start-up: `optimal --law` and `--help` must not pay for fitting, backtests or plots
    probe = (
        "import sys\n"
        "from scaling_cli.cli import main\n"
        "sys.argv = ['scaling', 'optimal', '--law', 'epoch-2024', '-b', '1e24']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ['scaling_cli.fit.build', 'scaling_cli.fit.bootstrap', "
        "'scaling_cli.forecast.backtest', 'scaling_cli.read.runs', 'matplotlib']\n"
        "print('loaded:', [m for m in heavy if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip().endswith("loaded: []"), done.stdout[-500:]
