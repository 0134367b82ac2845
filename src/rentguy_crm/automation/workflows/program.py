"""A workflow's steps flattened into a program with stable step numbers.

Branches become a conditional jump: a run's `current_step` is an index into this list, so a retried run
resumes exactly after its last completed step and the idempotency key `run:<id>:step:<n>` stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rentguy_crm.automation.workflows.definitions import Branch, WorkflowDefinition


@dataclass(frozen=True)
class Instruction:
    op: Literal["step", "branch", "jump"]
    step: Any = None  # the Step model for "step"; the Branch for "branch"
    target: int | None = None  # "branch": where to go when the condition is false; "jump": where to go

    @property
    def label(self) -> str:
        if self.op == "step":
            return self.step.name or self.step.type
        if self.op == "branch":
            return self.step.name or f"branch if {self.step.condition}"
        return f"jump to {self.target}"


def compile_program(definition: WorkflowDefinition) -> list[Instruction]:
    program: list[Instruction] = []
    _emit(definition.steps, program)
    return program


def _emit(steps: list[Any], program: list[Instruction]) -> None:
    for step in steps:
        if isinstance(step, Branch):
            branch_at = len(program)
            program.append(Instruction("branch", step, None))
            _emit(step.then, program)
            if step.otherwise:
                jump_at = len(program)
                program.append(Instruction("jump", None, None))
                else_start = len(program)
                _emit(step.otherwise, program)
                program[jump_at] = Instruction("jump", None, len(program))
            else:
                else_start = len(program)
            program[branch_at] = Instruction("branch", step, else_start)
        else:
            program.append(Instruction("step", step))
