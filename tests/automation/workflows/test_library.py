"""Workflow files: every kind of mistake is reported with its file and line; the shipped library is valid."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rentguy_crm.automation.workflows import library
from rentguy_crm.automation.workflows.definitions import WorkflowDefinition
from rentguy_crm.cli import app

VALID = """\
key: sample
name: Sample
triggers:
  - event: lead.created
sla: 15m
steps:
  - type: send_email
    template: lead-welcome
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def only_problem(folder: Path, text: str, name: str = "sample.yaml") -> library.Problem:
    path = write(folder, name, text)
    loaded = library.load_library([path])
    assert len(loaded.errors) == 1, [str(p) for p in loaded.problems]
    problem = loaded.errors[0]
    assert problem.file.endswith(name)
    return problem


def test_the_shipped_library_is_valid() -> None:
    loaded = library.load_library()
    assert [str(p) for p in loaded.problems] == []
    assert sorted(w.definition.key for w in loaded.workflows) == ["lead_intake", "payment_received",
                                                                   "post_event_care", "proposal_followup"]


def test_the_shipped_workflows_have_their_triggers_and_slas() -> None:
    loaded = library.load_library()
    by_key = {w.definition.key: w.definition for w in loaded.workflows}
    assert by_key["lead_intake"].trigger_events() == ["lead.created"]
    assert by_key["proposal_followup"].trigger_events() == ["deal.stage.proposal_sent", "deal.stage.negotiation"]
    assert by_key["post_event_care"].trigger_events() == ["deal.stage.completed", "event.completed"]
    assert by_key["payment_received"].trigger_events() == ["payment.received"]
    assert by_key["lead_intake"].sla.total_seconds() == 15 * 60
    assert by_key["proposal_followup"].sla.total_seconds() == 60 * 60


def test_every_template_key_of_the_library_is_listed_in_the_docs() -> None:
    docs = (library.PROJECT_ROOT / "docs" / "workflows.md").read_text()
    loaded = library.load_library()
    keys = set()
    for item in loaded.workflows:
        stack = list(item.definition.steps)
        while stack:
            step = stack.pop()
            if step.type == "branch":
                stack.extend([*step.then, *step.otherwise])
            elif hasattr(step, "template"):
                keys.add(step.template)
    assert keys
    assert [key for key in sorted(keys) if f"`{key}`" not in docs] == []


def test_a_valid_file_loads(tmp_path: Path) -> None:
    loaded = library.load_library([write(tmp_path, "sample.yaml", VALID)])
    assert loaded.problems == []
    assert loaded.workflows[0].definition.key == "sample"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID.replace("  - type: send_email", "  - type: [send_email"))
    assert problem.line in (7, 8, 9)
    assert "YAML syntax error" in problem.message


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID + "name: Again\n")
    assert problem.line == 9
    assert "duplicate key 'name' (first on line 2)" in problem.message


def test_unknown_step_type_names_the_step_line_and_suggests(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID.replace("type: send_email", "type: send_mail"))
    assert problem.line == 7
    assert "unknown step type 'send_mail'" in problem.message
    assert "did you mean 'send_email'" in problem.message


def test_missing_field_names_the_step(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID.replace("    template: lead-welcome\n", "    name: no template\n"))
    assert problem.line == 7
    assert "steps[0]: missing required field 'template'" in problem.message


def test_unknown_field_names_its_line(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID + "    subject: Hallo\n")
    assert problem.line == 9
    assert "unknown field 'subject'" in problem.message


def test_bad_duration_names_its_line(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID.replace("sla: 15m", "sla: 15 fortnights"))
    assert problem.line == 5
    assert "unknown unit 'fortnights'" in problem.message


def test_zero_duration_is_refused(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID.replace("sla: 15m", "sla: 0s"))
    assert problem.line == 5
    assert "longer than zero" in problem.message


def test_bad_condition_names_its_line_and_column(tmp_path: Path) -> None:
    text = VALID.replace("  - event: lead.created\n", "  - event: lead.created\n    condition: lead.value >> 5\n")
    problem = only_problem(tmp_path, text)
    assert problem.line == 5
    assert "triggers[0].condition: invalid expression" in problem.message
    assert "column 13" in problem.message


def test_bad_branch_condition_inside_a_branch(tmp_path: Path) -> None:
    text = VALID + "  - type: branch\n    condition: lead.__class__\n    then:\n      - type: stop\n"
    problem = only_problem(tmp_path, text)
    assert problem.line == 10
    assert "names may not start with '_'" in problem.message


def test_error_inside_else_branch_points_into_it(tmp_path: Path) -> None:
    text = VALID + ("  - type: branch\n    condition: lead.priority == 'high'\n    then: []\n    else:\n"
                    "      - type: notify\n        template: Bad Key\n")
    problem = only_problem(tmp_path, text)
    assert problem.line == 14
    assert "steps[1].else[0].template" in problem.message
    assert "is not a template key" in problem.message


def test_bad_until_expression(tmp_path: Path) -> None:
    text = VALID + "  - type: wait\n    until: deal.event_date + + \n"
    problem = only_problem(tmp_path, text)
    assert problem.line == 10
    assert "invalid expression" in problem.message


def test_wait_needs_exactly_one_of_duration_and_until(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID + "  - type: wait\n")
    assert problem.line == 9
    assert "exactly one of 'duration'" in problem.message


def test_unknown_template_key_format(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID.replace("template: lead-welcome", "template: Lead_Welcome"))
    assert problem.line == 8
    assert "'Lead_Welcome' is not a template key" in problem.message


def test_unknown_trigger_event_suggests_the_right_one(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID.replace("event: lead.created", "event: lead.craeted"))
    assert problem.line == 4
    assert "unknown event 'lead.craeted'" in problem.message
    assert "did you mean 'lead.created'" in problem.message


def test_retry_policy_out_of_range(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID + "retry:\n  max_attempts: 0\n")
    assert problem.line == 10
    assert "retry.max_attempts" in problem.message


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "- just\n- a list\n")
    assert problem.line == 1
    assert "must be a mapping" in problem.message


def test_an_empty_file(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "# nothing here\n")
    assert "empty" in problem.message


def test_duplicate_workflow_keys_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", VALID)
    write(tmp_path, "b.yaml", "# the same key again\n" + VALID)
    loaded = library.load_library([tmp_path])
    errors = [p for p in loaded.problems if p.severity == "error"]
    assert len(errors) == 1
    assert errors[0].file.endswith("b.yaml")
    assert errors[0].line == 2
    assert "already defined in" in errors[0].message and "a.yaml:1" in errors[0].message


def test_every_mistake_of_a_file_is_reported(tmp_path: Path) -> None:
    text = VALID.replace("sla: 15m", "sla: soon").replace("type: send_email", "type: mail") + "colour: red\n"
    loaded = library.load_library([write(tmp_path, "sample.yaml", text)])
    assert sorted(p.line for p in loaded.errors) == [5, 7, 9]


def test_a_step_without_a_type(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID.replace("  - type: send_email\n    template", "  - template"))
    assert problem.line == 7
    assert "a step needs a 'type'" in problem.message


def test_a_python_tag_is_refused(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID.replace("name: Sample", "name: !!python/object/apply:os.system [id]"))
    assert problem.line == 2


def test_a_recursive_alias_is_an_error_not_a_crash(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, VALID + "extra: &loop [1, *loop]\n")
    assert "refers to itself" in problem.message


def test_alias_expansion_is_bounded(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(6))
    problem = only_problem(tmp_path, bomb)
    assert "too large" in problem.message


def test_a_condition_reading_an_unknown_variable_is_a_warning(tmp_path: Path) -> None:
    text = VALID.replace("  - event: lead.created\n", "  - event: lead.created\n    condition: leed.priority == 1\n")
    loaded = library.load_library([write(tmp_path, "sample.yaml", text)])
    assert loaded.errors == []
    assert [(w.line, w.severity) for w in loaded.warnings] == [(5, "warning")]
    assert "'leed' is not a run variable" in loaded.warnings[0].message
    assert "did you mean 'lead'" in loaded.warnings[0].message


def test_key_differing_from_file_name_is_a_warning(tmp_path: Path) -> None:
    loaded = library.load_library([write(tmp_path, "other.yaml", VALID)])
    assert loaded.errors == []
    assert "differs from the file name" in loaded.warnings[0].message


def test_unknown_stage_trigger_is_a_warning_against_a_tenant(tmp_path: Path) -> None:
    text = VALID.replace("event: lead.created", "event: deal.stage.proposal_snt")
    loaded = library.load_library([write(tmp_path, "sample.yaml", text)])
    warnings = library.check_against_stages(loaded, ["new", "proposal_sent"], "mrdj")
    assert [(w.line, w.severity) for w in warnings] == [(4, "warning")]
    assert "no pipeline of tenant mrdj has a stage 'proposal_snt'" in warnings[0].message
    assert "did you mean 'proposal_sent'" in warnings[0].message


def test_stored_form_reads_back_to_the_same_definition() -> None:
    for item in library.load_library().workflows:
        stored = library.stored_form(item.definition)
        assert WorkflowDefinition.model_validate(stored) == item.definition
        assert library.checksum(WorkflowDefinition.model_validate(stored)) == item.checksum


# --- the command ---------------------------------------------------------------------------------------------

def test_validate_command_prints_file_line_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, "sample.yaml", VALID.replace("type: send_email", "type: send_mail"))
    result = CliRunner().invoke(app, ["workflows", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:7: steps[0]: unknown step type 'send_mail'" in result.output


def test_validate_command_passes_the_shipped_library() -> None:
    result = CliRunner().invoke(app, ["workflows", "validate"])
    assert result.exit_code == 0, result.output
    assert "4 workflow(s) valid in 4 file(s)" in result.output


def test_validate_command_json(tmp_path: Path) -> None:
    import json

    path = write(tmp_path, "sample.yaml", VALID.replace("sla: 15m", "sla: never"))
    result = CliRunner().invoke(app, ["workflows", "validate", str(path), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["errors"] == 1
    assert data["problems"][0]["line"] == 5


@pytest.mark.parametrize("command", ["validate", "sync", "list", "show"])
def test_workflow_commands_have_help(command: str) -> None:
    result = CliRunner().invoke(app, ["workflows", command, "--help"])
    assert result.exit_code == 0


def test_validate_command_shows_how_many_runs_each_workflow_makes() -> None:
    import json

    result = CliRunner().invoke(app, ["workflows", "validate"])
    assert "proposal_followup: once_per change, on_new_run supersede" in result.output
    assert "post_event_care: once_per subject, on_new_run keep" in result.output
    assert "lead_intake:" not in result.output  # the defaults are not repeated
    rules = json.loads(CliRunner().invoke(app, ["workflows", "validate", "--json"]).stdout)["run_rules"]
    assert rules["proposal_followup"] == {"once_per": "change", "on_new_run": "supersede"}
    assert rules["payment_received"] == {"once_per": "change", "on_new_run": "keep"}


def test_an_unknown_on_new_run_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sample.yaml", VALID.replace("sla: 15m", "sla: 15m\non_new_run: replace"))
    result = CliRunner().invoke(app, ["workflows", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:6: on_new_run" in result.output
