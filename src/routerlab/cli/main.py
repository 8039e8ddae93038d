"""The ``routerlab`` command line: thin typer commands over the library's public verbs.

Errors raised on purpose by routerlab (bad input, unknown names, missing data) are printed as one
red line and exit with status 2 — never a traceback.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from routerlab._version import __version__
from routerlab.cli._common import console

app = typer.Typer(
    name="routerlab", help="Honest, practical LLM routing: data, audits, routers, metrics.", no_args_is_help=True
)


def _version(value: bool) -> None:
    if value:
        console.print(f"routerlab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
) -> None:
    """Routerlab's command line."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------------- the commands, one module each
def _register() -> None:
    from routerlab.cli.audit import audit_cmd
    from routerlab.cli.cascade import cascade_cmd
    from routerlab.cli.collect import collect_cmd, latency_cmd
    from routerlab.cli.collect_lm import collect_lm_cmd
    from routerlab.cli.collect_lm_gen import collect_lm_gen_cmd
    from routerlab.cli.data import data_app
    from routerlab.cli.evaluate import evaluate_cmd
    from routerlab.cli.ope import ope_cmd
    from routerlab.cli.report import report_cmd
    from routerlab.cli.score import score_cmd
    from routerlab.cli.serve import serve_cmd, serve_log_cmd
    from routerlab.cli.sweep import sweep_cmd

    app.add_typer(data_app, name="data")
    app.command("evaluate")(evaluate_cmd)
    app.command("report")(report_cmd)
    app.command("audit")(audit_cmd)
    app.command("sweep")(sweep_cmd)
    app.command("collect")(collect_cmd)
    app.command("latency")(latency_cmd)
    app.command("collect-lm")(collect_lm_cmd)
    app.command("collect-lm-gen")(collect_lm_gen_cmd)
    app.command("score")(score_cmd)
    app.command("serve")(serve_cmd)
    app.command("serve-log")(serve_log_cmd)
    app.command("ope")(ope_cmd)
    app.command("cascade")(cascade_cmd)


_register()

if __name__ == "__main__":  # pragma: no cover
    app()
