"""`demo [NAME]`: triage a bundled broken script, so the main job can be tried with nothing of one's own."""

from __future__ import annotations

import argparse

from traintriage.cli import UsageError, add_json, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="triage a bundled broken training script (try the tool with nothing of yours)")
    p.add_argument("name", nargs="?", help="which demo (default: double-softmax-mlp; --list names them)")
    p.add_argument("--list", action="store_true", help="list the demos and what is wrong with each")
    p.add_argument("--fixed", action="store_true", help="triage the demo's fixed script instead (should be healthy)")
    p.add_argument("--steps", type=int, default=40, help="optimizer steps to run (default 40)")
    add_json(p)
    p.set_defaults(func=run_demo_cmd)


def run_demo_cmd(args: argparse.Namespace) -> int:
    from traintriage.demos import DemoError, fix_diff, get_demo, list_demos, stage_demo

    if args.list:
        demos = list_demos()
        text = "\n".join(f"{d.name:<36} {d.bug}" for d in demos)
        return emit(args, {"demos": [d.model_dump() for d in demos]}, text)
    try:
        demo = get_demo(args.name)
    except DemoError as e:
        raise UsageError(str(e)) from e
    from traintriage.commands.probe_cmds import _code, _progress
    from traintriage.render import format_report
    from traintriage.triage import triage_script

    folder = stage_demo(demo.name)
    script = folder / ("fixed.py" if args.fixed else "train.py")
    rep = triage_script(script, steps=args.steps, timeout=120.0, cwd=folder, on_progress=_progress(args))
    intro = (f"demo {demo.name}: a copy of the script is in {folder}\n"
             + ("(the fixed script)\n" if args.fixed else f"the planted bug: {demo.bug}\n"))
    outro = "" if args.fixed else (
        f"\nexpected: {', '.join(demo.expected)}\nthe fix (train.py -> fixed.py):\n{fix_diff(demo.name)}"
        f"\nrun `traintriage demo {demo.name} --fixed` to triage the fixed script.")
    payload = {"demo": demo.model_dump(), "folder": str(folder), "script": script.name,
               "report": rep.model_dump(mode="json")}
    return emit(args, payload, intro + "\n" + format_report(rep) + "\n" + outro, _code(rep))
