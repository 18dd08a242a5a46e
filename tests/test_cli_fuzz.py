"""The command line under fuzz: every subcommand, every flag, hostile values (non-finite, huge, negative,
unicode, empty, boolean-like, markup). Each call either runs (exit 0) or is refused with exit 2 and one
line on stderr; nothing raises out of ``main`` and nothing crashes the process.

Real measurements are replaced by stubs (a value the parser accepts would otherwise time networks or
calibrate for minutes); everything the command line checks before that runs for real.
"""
from __future__ import annotations

import argparse

import pytest

from core import cli
from core.measurement.latency import HostSpeed

HOSTILE = ["nan", "inf", "-inf", "1e308", "-1e308", "-1", "0", "", " ", "true", "False", "yes", "٣", "１",
           "0x10", "1_000", "1e-300", "9" * 400, "1,2", "a:b:c", "0:1:0", "[x](http://x)", "<script>", "🙂",
           "\n1", "--"]


def _flags() -> list[tuple[str, str | None]]:
    """(subcommand, flag) for every option that takes a value, and (subcommand, None) for the positional."""
    parser = cli.build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    found = []
    for name, sub in commands.choices.items():
        if all(isinstance(action, argparse._HelpAction) for action in sub._actions):
            found.append((name, None))  # a stray argument after a command that takes none
        for action in sub._actions:
            if action.option_strings and action.nargs != 0 and not isinstance(action, argparse._HelpAction):
                found.append((name, action.option_strings[-1]))
            elif not action.option_strings:
                found.append((name, None))
    return found


FLAGS = _flags()
CASES = [(command, flag, value) for command, flag in FLAGS for value in HOSTILE]


@pytest.fixture(autouse=True)
def no_real_runs(monkeypatch, tmp_path):
    """Stub what would time or count real networks (the checks before it stay real); files that an accepted
    ``-o`` value writes land in a temporary folder."""
    monkeypatch.chdir(tmp_path)
    parser = cli.build_parser()  # built once: parsing is what is fuzzed, not building the parser 2,000 times
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    import core.measurement.latency
    import core.measurement.ptflops_check
    import core.prediction.calibration

    def stub(name):
        def run(*args, **kwargs):
            raise cli.CliError(f"stub: {name} would run here")
        return run

    monkeypatch.setattr(core.measurement.latency, "host_speed", lambda *args, **kwargs: HostSpeed(1e12, 1e9))
    monkeypatch.setattr(core.measurement.latency, "_timed_runs", stub("a torch measurement"))
    monkeypatch.setattr(core.measurement.latency, "_onnx_timed_runs", stub("an onnxruntime measurement"))
    monkeypatch.setattr(core.measurement.ptflops_check, "ptflops_count", stub("ptflops"))
    monkeypatch.setattr(core.prediction.calibration, "calibrate", stub("a calibration"))


def _argv(command: str, flag: str | None, value: str) -> list[str]:
    needs_backbone = command not in ("list", "calibrate") and flag != "--spec"  # --spec names the network itself
    if flag is None:
        return [command, value]
    return [command, *(["mobilenet_v3_small"] if needs_backbone else []), flag, value]


def test_the_fuzz_table_covers_every_subcommand():
    assert {command for command, _, _ in CASES} == {"list", "profile", "sweep", "recipe", "ptflops", "latency",
                                                     "predict", "calibrate", "export-spec"}
    assert {"--spec", "--stage-width", "--stage-depth"} <= {flag for command, flag, _ in CASES if command == "latency"}
    assert len(CASES) >= 1500  # the README quotes this table's size


@pytest.mark.parametrize("command,flag", FLAGS)
def test_every_flag_refuses_hostile_values_with_one_line(command, flag, capsys):
    """One test per flag, every hostile value through it (2,000-odd calls cost seconds, not a test each)."""
    wrong = []
    for value in HOSTILE:
        status = cli.main(_argv(command, flag, value))
        err = capsys.readouterr().err.strip()
        if status not in (0, 2):
            wrong.append((value[:40], f"exit {status}", err))
        elif status == 2 and not (err.startswith("error:") and "\n" not in err and "Traceback" not in err):
            wrong.append((value[:40], "not one error line", err))
        elif status == 2 and len(value) > 40 and value in err:
            wrong.append((value[:40], "a long value shown back whole, not cut", err[:200]))
    assert not wrong, wrong
