"""``vidgen workflow lint|list``: prove a graph takes every parameter from its manifest."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UsageError
from ._common import add_json_flag, add_parser, emit_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_parser(
        sub,
        "workflow",
        "list and lint the versioned workflows",
        "vidgen workflow lint workflows/svd_xt/v1",
    )
    wsub = p.add_subparsers(dest="workflow_command", metavar="ACTION", required=True)
    lint = add_parser(
        wsub,
        "lint",
        "check workflows against the pinned ComfyUI snapshot: node types and inputs exist, "
        "every manifest-governed input is linked to ManifestLoader, UI and API forms agree; "
        "without targets also that example_workflows/ holds each newest version",
        "vidgen workflow lint workflows/*/v*     (or: svd_xt@1, or an edited .../v1/api.json)",
    )
    lint.add_argument(
        "targets",
        nargs="*",
        help="workflow folders, api.json files in <name>/v<N>/ or name@version (default: all)",
    )
    lint.add_argument(
        "--object-info", type=Path, default=None, help="another /object_info snapshot"
    )
    add_json_flag(lint)
    lint.set_defaults(func=cmd_lint)
    ls = add_parser(
        wsub, "list", "list the workflow versions in this checkout", "vidgen workflow list"
    )
    add_json_flag(ls)
    ls.set_defaults(func=cmd_list)


def _ref(target: str) -> tuple[str, Path | None, Path | None]:
    """(name@version, workflows root, the API file when the target is one)."""
    if "@" in target and not Path(target).exists():
        from ..workflow_graph import list_workflows

        known = list_workflows()
        if target not in known:
            raise UsageError(f"{target}: no such workflow; known: {', '.join(known)}")
        return target, None, None
    path = Path(target)
    api_file = path if path.is_file() and path.name == "api.json" else None
    folder = path.parent if api_file else path
    if api_file is None and not (folder / "api.json").is_file():
        raise UsageError(
            f"{target}: not a workflow folder (no api.json), not an api.json file "
            "and not name@version"
        )
    if not folder.name.startswith("v") or not folder.name[1:].isdigit():
        raise UsageError(f"{target}: workflow folders are named workflows/<name>/v<N>")
    return f"{folder.parent.name}@{folder.name[1:]}", folder.parent.parent, api_file


def cmd_lint(args: argparse.Namespace) -> int:
    from ..workflow_graph import (
        WorkflowError,
        lint_graph,
        lint_workflow,
        list_workflows,
        load_object_info,
        load_workflow,
    )

    try:
        info = load_object_info(str(args.object_info) if args.object_info else None)
    except WorkflowError as e:
        raise UsageError(f"--object-info {e}") from None
    targets = [_ref(t) for t in args.targets] or [(r, None, None) for r in list_workflows()]
    if not targets:
        raise UsageError("no workflows found")
    failed = 0
    for ref, root, api_file in targets:
        try:
            if api_file is not None:  # an API graph alone: no UI form to compare with
                api = json.loads(api_file.read_bytes())
                if not isinstance(api, dict):
                    raise WorkflowError(f"{api_file}: an API-format graph is a JSON object")
                issues = lint_graph(ref, api, info)
            else:
                issues = lint_workflow(load_workflow(ref, [root] if root else None), info)
            errors = [str(i) for i in issues]
        except (WorkflowError, KeyError, ValueError) as e:
            errors = [f"{ref}: {e}"]
        failed += bool(errors)
        if args.json:
            emit_json({"workflow": ref, "ok": not errors, "errors": errors})
        elif errors:
            print(f"FAIL  {ref}")
            for line in errors:
                print(f"  {line}")
        else:
            print(f"OK    {ref}")
    if not args.targets:  # all workflows: also the template copies made of them
        from .. import workflow_examples

        try:
            errors = workflow_examples.check()
        except (WorkflowError, KeyError, ValueError) as e:  # a workflow it copies is broken
            errors = [f"example_workflows: {e}"]
        failed += bool(errors)
        if args.json:
            emit_json({"workflow": "example_workflows", "ok": not errors, "errors": errors})
        elif errors:
            print("FAIL  example_workflows (run tools/build_workflows.py)")
            for line in errors:
                print(f"  {line}")
        else:
            print("OK    example_workflows")
    return 1 if failed else 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..workflow_graph import list_workflows, load_workflow

    for ref in list_workflows():
        wf = load_workflow(ref)
        if args.json:
            emit_json(
                {
                    "workflow": ref,
                    "folder": str(wf.folder),
                    "api_sha256": wf.sha256,
                    "description": wf.spec.description,
                }
            )
        else:
            print(f"{ref:<24} {wf.sha256[:12]}  {wf.spec.description}")
    return 0
