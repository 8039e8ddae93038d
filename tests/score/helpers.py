"""Shared test doubles for the scorer tests: an MMLU item, a recording judge, RouterBench's cell format."""

from __future__ import annotations

import ast

from routerlab.score import ScoreItem

ITEM = ScoreItem(
    text="What is the capital of Italy?\nA) Paris\nB) London\nC) Rome\nD) Berlin",
    gold="C",
    choices=("Paris", "London", "Rome", "Berlin"),
    query_id="q1",
    source="mmlu",
)


class Recorder:
    """A judge double: returns a fixed output and keeps the messages it was sent (no network)."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.calls: list[list[dict[str, str]]] = []

    def __call__(self, messages: list[dict[str, str]]) -> str:
        self.calls.append(messages)
        return self.output


def unwrap_cell(cell: str) -> str:
    """RouterBench stores each response as the repr of a one-element list."""
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        return cell
    return str(value[0]) if isinstance(value, list) and value else str(value)
