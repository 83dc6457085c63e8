"""`aidflow supervision`: the county's monthly sample of delegated decisions (P14), drawn and verified."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.base import _database, _fail, _parse_moment, _settings
from engine.access import SYSTEM
from engine.tables import utcnow

supervision_app = typer.Typer(help="县级监督 / county supervision of delegated decisions", no_args_is_help=True)


@supervision_app.command("sample")
def supervision_sample(
    county: Annotated[str | None, typer.Option("--county", help="县的区划代码 / the county's code")] = None,
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM")] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, max=2**63 - 1, help="种子；不给则随机 / the seed; random if not given"),
    ] = None,
    verify: Annotated[
        int | None, typer.Option("--verify", min=1, help="重新抽取核验已存的抽查 / redo a stored draw from its seed")
    ] = None,
    now: Annotated[str | None, typer.Option("--now", help="ISO-8601; default: the present")] = None,
) -> None:
    """抽查 / draw the policy's share of a county's delegated decisions of a month, or verify a stored draw.
    JSON on stdout; a verification that does not reproduce the draw exits 1."""
    from engine.errors import WorkflowError
    from workflows.env import Env
    from workflows.oversight.supervision import draw_sample, verify_sample

    settings = _settings()
    db = _database(settings)
    try:
        if verify is not None:
            with db.session(write=False) as session:
                check = verify_sample(session, actor=SYSTEM, sample_id=verify)
            typer.echo(check.model_dump_json(indent=2))
            if not check.same_draw:
                _fail("重新抽取的结果与存档不符 / the draw does not reproduce the stored one")
            return
        if county is None or month is None:
            _fail("请给出 --county 和 --month，或 --verify ID / give --county and --month, or --verify ID", 2)
            return
        env = Env.load(settings.policy, settings.secret_key)
        with db.session() as session:
            sample = draw_sample(
                session,
                env=env,
                actor=SYSTEM,
                county=county,
                month=month,
                seed=seed,
                now=_parse_moment(now) if now else utcnow(),
            )
    except WorkflowError as exc:
        _fail(exc.detail, 2)
        return
    typer.echo(sample.model_dump_json(indent=2))
